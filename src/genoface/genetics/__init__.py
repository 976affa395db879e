"""Genetics on dosage matrices: matching a genome file to a model's SNP list."""

from genoface.genetics._align import align_dosages

__all__ = ["align_dosages"]
