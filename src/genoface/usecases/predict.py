"""``genoface predict``: faces for the people in a genotype file, written as meshes and renders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from genoface.core.errors import GenofaceError
from genoface.core.files import atomic_directory, check_output
from genoface.genetics import MatchReport, read_genotypes_on_panel, select_samples
from genoface.io import write_mesh
from genoface.models import FaceModel
from genoface.shape import render_faces


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


def covariate_frame(ids: np.ndarray, age: float | None, sex: str | None, bmi: float | None) -> pd.DataFrame | None:
    """The covariates (sex F/M, age, bmi) of ``ids``, the same for each; None when none is given."""
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
    data, report = read_genotypes_on_panel(genotypes, model.panel_)
    data = select_samples(data, samples, Path(genotypes))
    ids = data.sample_ids
    runs = [(None, age)] if ages is None else [(f"_age{a:g}", a) for a in ages]
    written: list[Path] = []
    with atomic_directory(out, overwrite=overwrite) as tmp:
        for suffix, a in runs:
            faces = model.predict(data, covariate_frame(ids, a, sex, bmi))
            for sid, face in zip(ids, faces, strict=True):
                stem = f"{sid}{suffix or ''}"
                write_mesh(tmp / f"{stem}.ply", face, model.template_triangles_)
                render_faces(
                    tmp / f"{stem}.png", [face], model.template_triangles_, titles=[stem], views=("front", "profile")
                )
                written.append(Path(out) / f"{stem}.ply")
    return written, report
