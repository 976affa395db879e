"""Features that the face models share, built one way: ancestry PCs, genetic sex, age and BMI
(:class:`DemographicFeatures`), the SNPs a multivariate GWAS selects, and the linear maps and
likelihood ratios of the regression models."""

from genoface.features.demographic import (
    UNKNOWN_SEX,
    DemographicFeatures,
    PersonFeatures,
    covariate_arrays,
    moments,
)
from genoface.features.regression import LinearMap, fit_ridge, holdout_residual_variance, likelihood_ratio_scores
from genoface.features.snps import select_face_snps

__all__ = [
    "UNKNOWN_SEX",
    "DemographicFeatures",
    "LinearMap",
    "PersonFeatures",
    "covariate_arrays",
    "fit_ridge",
    "holdout_residual_variance",
    "likelihood_ratio_scores",
    "moments",
    "select_face_snps",
]
