"""Running at scale: ``genoface import`` (a cohort's genotypes into its chunked store) and the
Dask scheduler that every command runs its genotype passes on (``genoface --scheduler``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from genoface.cohort import CACHE_DIR, Cohort
from genoface.core.errors import GenofaceError
from genoface.genetics.engine import SCHEDULERS, use_scheduler
from genoface.io import open_genotype_store

__all__ = ["SCHEDULERS", "import_cohort", "use_scheduler"]


def import_cohort(path: str | os.PathLike, *, progress: Any = None) -> dict[str, Any]:
    """Read the cohort directory ``path`` once and write its cache: the genotypes into the chunked
    Zarr store (a PLINK fileset a slice of variants at a time, never whole in memory), the faces
    as one array. Later commands read the cohort from there. Returns what was written."""
    root = Path(path)
    report = (lambda done, total: progress("import: genotypes", done, total)) if progress else None
    cohort = Cohort.load(root, lazy=True, progress=report)
    store_path = root / CACHE_DIR / "genotypes.zarr"
    if not store_path.is_dir():
        raise GenofaceError(f"{root}: the cohort's cache could not be written there; make the directory writable")
    store = open_genotype_store(store_path)
    size = sum(f.stat().st_size for f in store_path.rglob("*") if f.is_file())
    return {
        "cohort": str(root),
        "n_samples": store.n_samples,
        "n_variants": store.n_variants,
        "n_vertices": cohort.n_vertices,
        "store": str(store_path),
        "chunk_samples": store.dosages.chunks[0],
        "chunk_variants": store.dosages.chunks[1],
        "store_bytes": size,
    }
