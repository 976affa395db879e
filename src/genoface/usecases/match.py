"""Match genomes to faces with a trained model: a ranked table of candidate faces per genome.

``genoface match`` writes ``ranks.tsv`` with one row per genome and candidate face, best first:

    genome  face  score  rank

``rank`` is 1 + the number of faces that score higher (ties share the better rank, as in the
evaluation protocol). Genomes are scored in blocks, so only one block of the score matrix is
ever held.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from genoface.cohort import Cohort
from genoface.core.errors import GenofaceError
from genoface.core.files import atomic_stream, check_output
from genoface.evaluate import assign_faces
from genoface.genetics import MatchReport, read_genotypes_on_panel
from genoface.io import GenotypeData, read_covariates, read_mesh_vertices
from genoface.models import FaceModel

# Scores held at a time (128 MB of float64): genomes are scored in blocks of this many over the
# gallery size. Each block re-encodes the whole gallery in the model's score_matrix, so blocks
# of a fixed 256 genomes took 16 times longer than the whole matrix at 10,000 x 10,000
# (bench/bench_match.py); blocks sized in scores take few passes and bound the memory.
_BLOCK_SCORES = 1 << 24
_MESH_SUFFIXES = (".ply", ".obj")


@dataclass
class Gallery:
    """The candidate faces: ids and registered vertices (n, V, 3)."""

    ids: np.ndarray
    faces: np.ndarray


def read_gallery(path: str | os.PathLike) -> Gallery:
    """Faces from a cohort directory (its ``faces/``) or from a folder of ``<id>.ply``/``.obj``."""
    path = Path(path)
    if (path / "cohort.json").exists():
        cohort = Cohort.load(path)
        return Gallery(np.asarray(cohort.sample_ids), np.asarray(cohort.faces))
    if not path.is_dir():
        raise GenofaceError(f"{path}: not a folder; give a cohort directory or a folder of PLY/OBJ faces")
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in _MESH_SUFFIXES)
    if not files:
        raise GenofaceError(f"{path}: no .ply or .obj faces in this folder")
    ids = np.array([p.stem for p in files])
    dup = pd.Index(ids)[pd.Index(ids).duplicated()]
    if len(dup):
        raise GenofaceError(f"{path}: face id {dup[0]!r} appears twice (as .ply and .obj); keep one")
    return Gallery(ids, read_mesh_vertices(files))


def iter_matches(
    model: FaceModel,
    genotypes: GenotypeData,
    gallery: Gallery,
    covariates: pd.DataFrame | None = None,
    *,
    top: int | None = None,
    assign: bool = False,
    include_own: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> Iterator[pd.DataFrame]:
    """Blocks of the long table genome, face, score, rank (best first within each genome;
    only the ``top`` best faces per genome when given).

    With ``assign``, every genome is also given a distinct face at once (the closed-set joint
    assignment, :func:`genoface.evaluate.assign_faces`), marked 1 in a column ``assigned`` and
    kept even when it is not among the ``top``. The assignment needs the whole score matrix, so
    it is held (n_genomes x n_faces floats) and the table follows once every block is scored.
    With ``include_own``, a genome's own face (the face with its id) is kept too, with its rank,
    even when it is not among the ``top``."""
    model.check_faces(gallery.faces)
    if top is not None and top < 1:
        raise GenofaceError(f"--top must be at least 1, got {top}")
    progress = progress or (lambda stage, done, total: None)
    keep = len(gallery.ids) if top is None else min(top, len(gallery.ids))
    blocks = _score_blocks(model, genotypes, gallery, covariates, progress)
    faces = pd.Index(gallery.ids)
    if not assign:
        for ids, scores in blocks:
            yield _ranked_table(ids, scores, gallery, keep, extra=_own(faces, ids, include_own))
        return
    blocks = list(blocks)
    assigned = assign_faces(np.vstack([scores for _, scores in blocks]))
    start = 0
    for ids, scores in blocks:
        yield _ranked_table(
            ids, scores, gallery, keep, assigned[start : start + len(ids)], extra=_own(faces, ids, include_own)
        )
        start += len(ids)


def _own(faces: pd.Index, ids: np.ndarray, include_own: bool) -> np.ndarray | None:
    """Each genome's own face index in the gallery (-1 for none), where asked for."""
    return faces.get_indexer(ids) if include_own else None


def _score_blocks(model, genotypes, gallery, covariates, progress) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(genome ids, scores against every gallery face) of each block of genomes."""
    n = genotypes.n_samples
    step = max(16, _BLOCK_SCORES // max(len(gallery.ids), 1))
    for start in range(0, n, step):
        rows = np.arange(start, min(start + step, n))
        block = genotypes.take(rows)
        yield np.asarray(block.sample_ids), model.score_matrix(block, gallery.faces, covariates)
        progress("matching", int(rows[-1]) + 1, n)


def _ranked_table(
    ids: np.ndarray,
    scores: np.ndarray,
    gallery: Gallery,
    keep: int,
    assigned: np.ndarray | None = None,
    extra: np.ndarray | None = None,
) -> pd.DataFrame:
    """The rows genome, face, score, rank of one block, best first per genome, the ``keep`` best
    (and, with ``assigned`` (face index per genome, -1 for none), the assigned face as well)."""
    order = np.argsort(-scores, axis=1, kind="stable")
    ranked = np.take_along_axis(scores, order, axis=1)
    # rank = 1 + number of strictly higher scores: ties share the better rank.
    ranks = np.vstack([np.searchsorted(-s, -s, side="left") + 1 for s in ranked])
    shown = np.zeros(order.shape, dtype=bool)
    shown[:, :keep] = True
    if assigned is not None:
        is_assigned = order == assigned[:, None]
        shown |= is_assigned
    if extra is not None:  # faces shown whatever their rank (a genome's own face; -1 for none)
        shown |= order == extra[:, None]
    table = pd.DataFrame(  # only the rows shown are built (boolean indexing keeps each genome's order)
        {
            "genome": np.repeat(ids, shown.sum(axis=1)),
            "face": gallery.ids[order[shown]],
            "score": ranked[shown],
            "rank": ranks[shown],
        }
    )
    if assigned is not None:
        table["assigned"] = is_assigned[shown].astype(int)
    return table


def match_to_file(
    model_dir: str | os.PathLike,
    genotypes: str | os.PathLike,
    faces: str | os.PathLike,
    out: str | os.PathLike,
    *,
    covariates: str | os.PathLike | None = None,
    top: int | None = None,
    assign: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[pd.Series, MatchReport]:
    """Score every genome in ``genotypes`` against every face in ``faces`` and write ``out``
    (TSV, streamed block by block, appearing only when complete; with ``assign``, a column
    ``assigned`` marks the face each genome gets in the closed-set joint assignment).

    Returns the rank of each genome's own face where the genome id is also a face id (empty
    otherwise; ``.attrs["gallery"]`` is the gallery size; with ``assign``, ``.attrs["assigned"]``
    says for each of them whether the assignment gave it its own face), and the allele match
    report of the genotype file.
    """
    if top is not None and top < 1:
        raise GenofaceError(f"--top must be at least 1, got {top}")
    check_output(out, overwrite=True)  # ranks.tsv is replaced, as before; a file in the way fails now
    model = FaceModel.load(model_dir)
    data, report = read_genotypes_on_panel(genotypes, model.panel_)
    gallery = read_gallery(faces)
    cov = None if covariates is None else read_covariates(covariates)
    own = pd.Index(data.sample_ids).intersection(gallery.ids)
    own_ranks = pd.Series(index=pd.Index(own, name="genome"), dtype="float64", name="rank")
    own_assigned = pd.Series(False, index=own_ranks.index)
    with atomic_stream(out) as fh:
        fh.write(b"genome\tface\tscore\trank" + (b"\tassigned" if assign else b"") + b"\n")
        for block in iter_matches(
            model, data, gallery, cov, top=top, assign=assign, include_own=True, progress=progress
        ):
            mine = block[block["genome"] == block["face"]]
            own_ranks.loc[mine["genome"].to_numpy()] = mine["rank"].to_numpy()
            if assign:
                own_assigned.loc[mine["genome"].to_numpy()] = mine["assigned"].to_numpy() == 1
            if top is not None:
                shown = block["rank"].groupby(block["genome"], sort=False).cumcount() < top
                block = block[shown | (block["assigned"] == 1)] if assign else block[shown]
            fh.write(block.to_csv(sep="\t", index=False, header=False, float_format="%.6g").encode())
    own_ranks = own_ranks.astype(int)
    own_ranks.attrs["gallery"] = len(gallery.ids)
    if assign:
        own_ranks.attrs["assigned"] = own_assigned
    return own_ranks, report
