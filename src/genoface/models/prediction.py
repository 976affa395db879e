"""Predict faces for the people in a genotype file and write them as meshes and renders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from genoface._fs import atomic_directory
from genoface.errors import GenofaceError
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


#: Suffixes of direct-to-consumer raw-data files (23andMe, AncestryDNA); anything else is read
#: as VCF/BCF or PLINK.
CONSUMER_SUFFIXES = (".txt", ".csv", ".tsv")


def is_consumer_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in CONSUMER_SUFFIXES


def read_genotypes_for_model(
    path: str | os.PathLike, model: FaceModel, data: GenotypeData | None = None
) -> tuple[GenotypeData, dict | None]:
    """Genotypes from a VCF/BCF, a PLINK set, or a 23andMe/AncestryDNA text file.

    A consumer file has no REF/ALT, so it is read against the model's training variants (its
    panel); the second value is then the match report (``n_panel``, ``n_found``, ``n_called``,
    strand flips, ...), else None. A file sharing no variant with the model is an error.
    ``data``: the VCF/PLINK file already read (several models reading one file read it once).
    """
    path = Path(path)
    if is_consumer_file(path):
        data, report = consumer_genotype_data(path, model.panel_)
        if report["n_called"] == 0:
            raise GenofaceError(
                f"{path}: none of the model's {report['n_panel']:,} SNPs could be read from this file "
                f"({report['n_found']:,} found by rsID or position); was the model trained on rsID-named variants?"
            )
        return data, report
    data = read_genotypes(path) if data is None else data
    if not pd.Index(data.variants["id"]).isin(model.panel_["id"]).any():
        raise GenofaceError(
            f"{path}: none of its {data.n_variants:,} variants is among the model's {len(model.panel_):,}; "
            "give genotypes with the variant ids the model was trained on"
        )
    return data, None


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
) -> tuple[list[Path], dict | None]:
    """Write ``<sample>.ply`` and ``<sample>.png`` (or ``<sample>_age<A>.*`` per age) into ``out``.

    Returns the meshes written and, for a 23andMe/AncestryDNA file, the SNP match report.
    """
    if ages is not None and age is not None:
        raise GenofaceError("give either --age or --ages, not both")
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
