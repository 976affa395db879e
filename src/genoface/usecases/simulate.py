"""``genoface simulate``: a preset, customized, simulated into a cohort directory."""

from __future__ import annotations

import os

from genoface.report.summary import print_cohort_summary
from genoface.simulate import DEFAULT_PRESET, PRESETS, SimulationResult, get_preset, simulate

__all__ = ["DEFAULT_PRESET", "PRESETS", "print_cohort_summary", "simulate_cohort"]


def simulate_cohort(
    preset: str,
    out: str | os.PathLike,
    *,
    seed: int = 0,
    shape_model=None,
    genotype_format: str = "auto",
    faces_format: str = "ply",
    lazy: bool | None = None,
    overwrite: bool = False,
    progress=None,
    **changes,
) -> SimulationResult:
    """Simulate preset ``preset`` with ``changes`` (n, populations, contigs, contig_length,
    x_length, maf, demographic_model, snp_heritability and the genetic architecture's fields;
    None keeps the preset's) into the cohort directory ``out``. ``genotype_format`` "plink" is
    "bed"; ``lazy``: genotypes decoded into a store on disk (None: when large)."""
    chosen = get_preset(preset).customized(**changes)
    return simulate(
        chosen,
        seed=seed,
        shape_model=shape_model,
        out=out,
        genotype_format="bed" if genotype_format == "plink" else genotype_format,
        faces_format=faces_format,
        lazy=lazy,
        overwrite=overwrite,
        progress=progress,
    )
