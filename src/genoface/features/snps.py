"""SNP selection for a face model: the autosomal SNPs most associated with the face."""

from __future__ import annotations

import numpy as np

from genoface.core.errors import GenofaceError
from genoface.core.schema import non_autosomal
from genoface.genetics import ColumnView, multivariate_gwas, select_snps


def select_face_snps(
    cohort, shape_scores: np.ndarray, covariates: np.ndarray, n_snps: int, clump_bp: int
) -> np.ndarray:
    """Columns of the autosomal SNPs most associated with the face: a multivariate GWAS of the
    shape scores (training people only) adjusted for ``covariates``, clumped within ``clump_bp``.
    The GWAS reads the autosomal columns block by block, never copied out whole."""
    auto = np.flatnonzero(~non_autosomal(cohort.variants["chrom"]))
    result = multivariate_gwas(ColumnView(cohort.genotypes, auto), shape_scores, covariates)
    chosen = select_snps(
        result, n_snps=int(n_snps), variants=cohort.variants.iloc[auto].reset_index(drop=True), window_bp=clump_bp
    )
    if len(chosen) == 0:
        raise GenofaceError("the GWAS found no testable autosomal SNP; the model needs polymorphic SNPs")
    return auto[chosen]
