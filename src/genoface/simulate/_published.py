"""The published operating points that the presets are calibrated against (data/*.tsv; sources
and designs in docs/simulation.md, "Published operating points")."""

from __future__ import annotations

from importlib import resources

import pandas as pd

_TABLE = "published_operating_points.tsv"


def published_operating_points() -> pd.DataFrame:
    """One row per published figure, indexed by ``id``: study, design, sample sizes, gallery,
    model, condition, metric, value (a fraction, or a count for n_loci) and its SD."""
    with resources.files("genoface.simulate").joinpath("data", _TABLE).open(encoding="utf-8") as fh:
        return pd.read_csv(fh, sep="\t", comment="#", dtype={"doi": str, "note": str}).set_index("id")
