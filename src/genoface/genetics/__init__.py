"""Genetics on dosage matrices, written against column blocks so the same code can run on
NumPy arrays, memory maps and (later) chunked stores: QC, ancestry PCA, sex checks, the allele
matcher that reads any genotype file onto a model's variant panel, GWAS (equal to plink2 --glm)
and SNP selection; 23andMe / AncestryDNA and other consumer raw-data files."""

from genoface.genetics._align import align_dosages, variant_columns
from genoface.genetics._alleles import (
    AlleleMatch,
    MatchReport,
    PreparedPanel,
    alt_frequencies,
    match_calls,
    match_variants,
    on_panel,
    panel_frequencies,
    panel_table,
)
from genoface.genetics._consumer import (
    ConsumerGenotypes,
    consumer_genotype_data,
    detect_format,
    match_to_panel,
    raw_data_person,
    read_consumer_file,
    read_consumer_genotypes,
)
from genoface.genetics._gwas import GwasResult, MultivariateGwasResult, gwas, multivariate_gwas, select_snps
from genoface.genetics._pca import AncestryPCA, ld_prune, randomized_svd_by_blocks
from genoface.genetics._qc import (
    DEFAULT_CHUNK,
    ColumnView,
    check_chunk,
    hwe_exact_p,
    iter_blocks,
    matrix_shape,
    sample_call_rate,
    standardize,
    take_columns,
    variant_qc,
    variant_stats,
)
from genoface.genetics._reading import GenomeFile, is_consumer_file, read_genotypes_on_panel, select_samples
from genoface.genetics._sex import check_sex, x_heterozygosity, x_inbreeding
from genoface.genetics._sex_predictor import CALL_CONFIDENCE, SEX_COLUMNS, SexPredictor, fit_sex_caller, genetic_sex

__all__ = [
    "ColumnView",
    "CALL_CONFIDENCE",
    "SEX_COLUMNS",
    "SexPredictor",
    "fit_sex_caller",
    "genetic_sex",
    "match_calls",
    "DEFAULT_CHUNK",
    "AlleleMatch",
    "AncestryPCA",
    "randomized_svd_by_blocks",
    "ConsumerGenotypes",
    "GenomeFile",
    "GwasResult",
    "MatchReport",
    "PreparedPanel",
    "MultivariateGwasResult",
    "align_dosages",
    "alt_frequencies",
    "check_chunk",
    "check_sex",
    "consumer_genotype_data",
    "detect_format",
    "gwas",
    "hwe_exact_p",
    "is_consumer_file",
    "iter_blocks",
    "ld_prune",
    "match_to_panel",
    "match_variants",
    "matrix_shape",
    "multivariate_gwas",
    "on_panel",
    "panel_frequencies",
    "panel_table",
    "raw_data_person",
    "read_consumer_file",
    "read_consumer_genotypes",
    "read_genotypes_on_panel",
    "sample_call_rate",
    "select_samples",
    "select_snps",
    "standardize",
    "take_columns",
    "variant_columns",
    "variant_qc",
    "variant_stats",
    "x_heterozygosity",
    "x_inbreeding",
]
