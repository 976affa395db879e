"""Readers and writers for the files a cohort is made of: genotypes, meshes, covariates."""

from genoface.io._bgzf import BgzfWriter
from genoface.io.covariates import read_covariates, write_covariates
from genoface.io.genotype_store import GenotypeStore, StoredDosages, open_genotype_store, write_genotype_store
from genoface.io.genotypes import (
    GenotypeData,
    PlinkFileset,
    VcfFileset,
    open_plink,
    open_vcf,
    read_genotypes,
    write_plink,
    write_vcf,
)
from genoface.io.landmarks import read_landmarks, read_template_landmarks
from genoface.io.meshes import read_mesh, read_mesh_vertices, write_mesh
from genoface.io.raw_data import write_23andme

__all__ = [
    "BgzfWriter",
    "GenotypeData",
    "GenotypeStore",
    "PlinkFileset",
    "StoredDosages",
    "VcfFileset",
    "open_genotype_store",
    "open_plink",
    "open_vcf",
    "read_covariates",
    "read_genotypes",
    "read_landmarks",
    "read_template_landmarks",
    "read_mesh",
    "read_mesh_vertices",
    "write_23andme",
    "write_covariates",
    "write_genotype_store",
    "write_mesh",
    "write_plink",
    "write_vcf",
]
