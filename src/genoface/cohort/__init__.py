"""The cohort directory (genotypes, registered faces, covariates) and its in-memory form."""

from genoface.cohort._cache import CACHE_DIR, write_cache
from genoface.cohort._cohort import (
    COHORT_FORMAT_VERSION,
    FACE_ARRAY,
    FACE_FORMATS,
    GENOTYPE_FORMATS,
    IN_MEMORY_GENOTYPES,
    Cohort,
    load_cohort,
)

__all__ = [
    "CACHE_DIR",
    "COHORT_FORMAT_VERSION",
    "FACE_ARRAY",
    "FACE_FORMATS",
    "GENOTYPE_FORMATS",
    "IN_MEMORY_GENOTYPES",
    "Cohort",
    "load_cohort",
    "write_cache",
]
