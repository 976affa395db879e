"""Genetics on dosage matrices, written against column blocks so the same code can run on
NumPy arrays, memory maps and (later) chunked stores: QC, ancestry PCA, sex checks, and matching
a genome file to a model's SNP list; GWAS (equal to plink2 --glm) and SNP selection;
23andMe / AncestryDNA raw files."""

from genoface.genetics._align import align_dosages
from genoface.genetics._consumer import ConsumerGenotypes, match_to_panel, read_consumer_file, read_consumer_genotypes
from genoface.genetics._gwas import GwasResult, MultivariateGwasResult, gwas, multivariate_gwas, select_snps
from genoface.genetics._pca import AncestryPCA, ld_prune
from genoface.genetics._qc import hwe_exact_p, iter_blocks, sample_call_rate, standardize, variant_qc, variant_stats
from genoface.genetics._sex import check_sex, x_heterozygosity, x_inbreeding

__all__ = [
    "AncestryPCA",
    "ConsumerGenotypes",
    "GwasResult",
    "MultivariateGwasResult",
    "align_dosages",
    "check_sex",
    "gwas",
    "match_to_panel",
    "multivariate_gwas",
    "read_consumer_file",
    "read_consumer_genotypes",
    "select_snps",
    "hwe_exact_p",
    "iter_blocks",
    "ld_prune",
    "sample_call_rate",
    "standardize",
    "variant_qc",
    "variant_stats",
    "x_heterozygosity",
    "x_inbreeding",
]
