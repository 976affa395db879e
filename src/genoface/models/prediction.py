"""Predict faces for the people in a genotype file and write them as meshes and renders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from genoface.core.errors import GenofaceError
from genoface.core.files import atomic_directory, check_output
from genoface.genetics._alleles import MatchReport, on_panel
from genoface.genetics._consumer import consumer_genotype_data
from genoface.io import read_genotypes, write_mesh
from genoface.io.genotypes import GenotypeData
from genoface.models._base import FaceModel
from genoface.shape.render import render_faces


def parse_ages(text: str | None) -> list[float] | None:
    """ "20,40,60" -> [20.0, 40.0, 60.0]; None stays None."""
    if text is None:
        return None
    try:
        ages = [float(a) for a in text.split(",") if a.strip()]
    except ValueError:
        raise GenofaceError(f"--ages must be comma-separated numbers, e.g. 20,40,60; got {text!r}") from None
    if not ages or any(not 0 <= a <= 150 for a in ages):
        raise GenofaceError(f"--ages must list ages between 0 and 150, got {text!r}")
    return ages


#: Names of direct-to-consumer raw-data files, consulted only where the content tells nothing (no
#: such file, or no format detected): such a file goes to the consumer reader, whose error says
#: what is wrong; anything else to the VCF/BCF and PLINK reader.
CONSUMER_SUFFIXES = (".txt", ".csv", ".tsv", ".zip", ".txt.gz", ".csv.gz", ".tsv.gz")


def is_consumer_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a consumer raw-data file (23andMe, AncestryDNA, FTDNA, MyHeritage, ...),
    told from its content: a VCF (text, gzipped or BCF) or a PLINK set is none whatever its name,
    a raw-data table is one whatever its name (``.csv``, gzipped, a one-file ``.zip``)."""
    from genoface.genetics._consumer import NOT_CONSUMER, detect_format

    path = Path(path)
    by_name = path.name.lower().endswith(CONSUMER_SUFFIXES)
    if not path.is_file():  # a PLINK prefix, or nothing there: the name decides which reader says so
        return by_name and not Path(f"{path}.bed").exists()
    kind = detect_format(path)
    if kind in NOT_CONSUMER:
        return False
    return kind != "unknown" or by_name  # no format detected: the name decides


def read_genotypes_for_model(
    path: str | os.PathLike, model, data: GenotypeData | None = None
) -> tuple[GenotypeData, MatchReport]:
    """Genotypes from a VCF/BCF, a PLINK set or a consumer raw-data file, re-read on the model's
    panel (its training variants, ``model.panel_``) by the allele matcher, and its match report.

    VCF/BCF/PLINK files are on the forward strand: REF/ALT exchanged against the panel are read
    flipped, A/T and C/G SNPs included. A consumer file has no REF/ALT and no stated strand: its
    calls are read against the panel's alleles, A/T and C/G SNPs dropped. A file that gives none
    of the panel's variants is an error. ``data``: the VCF/PLINK file already read (several
    models reading one file read it once).
    """
    path = Path(path)
    if is_consumer_file(path):
        data, report = consumer_genotype_data(path, model.panel_)
    else:
        data = read_genotypes(path) if data is None else data
        data, report = on_panel(data, model.panel_, strand="forward", panel_freq=_panel_freq(model), source=str(path))
    if report.n_matched == 0:
        raise GenofaceError(
            f"{path}: none of the model's {report.n_panel:,} variants could be read from this file "
            f"({report.summary().split(': ', 1)[1]}); give genotypes with the variant ids or positions "
            "the model was trained on"
        )
    return data, report


def _panel_freq(model) -> np.ndarray | None:
    panel = model.panel_
    return panel["af"].to_numpy(dtype=np.float64) if "af" in panel.columns else None


def select_samples(data: GenotypeData, samples: list[str] | None, source: Path) -> GenotypeData:
    """The people named in ``samples`` (all when None); unknown ids are an error naming them."""
    if not samples:
        return data
    index = pd.Index(data.sample_ids)
    unknown = [s for s in samples if s not in index]
    if unknown:
        raise GenofaceError(f"{source}: no sample {', '.join(unknown[:5])} in this genotype file")
    return data.take(index.get_indexer(samples))


def _covariates(ids: np.ndarray, age: float | None, sex: str | None, bmi: float | None) -> pd.DataFrame | None:
    if sex is not None and sex.upper() not in ("F", "M"):
        raise GenofaceError(f"--sex must be F or M, got {sex!r}")
    if age is None and sex is None and bmi is None:
        return None
    return pd.DataFrame(
        {
            "sex": [sex.upper() if sex else np.nan] * len(ids),
            "age": [np.nan if age is None else age] * len(ids),
            "bmi": [np.nan if bmi is None else bmi] * len(ids),
        },
        index=pd.Index(ids, name="sample_id"),
    )


def predict_to_folder(
    model_dir: str | os.PathLike,
    genotypes: str | os.PathLike,
    out: str | os.PathLike,
    *,
    samples: list[str] | None = None,
    age: float | None = None,
    sex: str | None = None,
    bmi: float | None = None,
    ages: list[float] | None = None,
    overwrite: bool = False,
) -> tuple[list[Path], MatchReport]:
    """Write ``<sample>.ply`` and ``<sample>.png`` (or ``<sample>_age<A>.*`` per age) into ``out``.

    Returns the meshes written and the allele match report of the genotype file.
    """
    if ages is not None and age is not None:
        raise GenofaceError("give either --age or --ages, not both")
    check_output(out, overwrite=overwrite)
    model = FaceModel.load(model_dir)
    data, report = read_genotypes_for_model(genotypes, model)
    data = select_samples(data, samples, Path(genotypes))
    ids = data.sample_ids
    runs = [(None, age)] if ages is None else [(f"_age{a:g}", a) for a in ages]
    written: list[Path] = []
    with atomic_directory(out, overwrite=overwrite) as tmp:
        for suffix, a in runs:
            faces = model.predict(data, _covariates(ids, a, sex, bmi))
            for sid, face in zip(ids, faces, strict=True):
                stem = f"{sid}{suffix or ''}"
                write_mesh(tmp / f"{stem}.ply", face, model.template_triangles_)
                render_faces(
                    tmp / f"{stem}.png", [face], model.template_triangles_, titles=[stem], views=("front", "profile")
                )
                written.append(Path(out) / f"{stem}.ply")
    return written, report
