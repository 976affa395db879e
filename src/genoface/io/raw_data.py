"""One person's genotypes written as a direct-to-consumer raw-data file (23andMe's layout): the
file a user of ``genoface serve`` or ``genoface predict`` brings, made from a simulated person
to try them, test them and load-test the server."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from genoface.core.errors import GenofaceError
from genoface.core.schema import is_x

_BASES = ("A", "C", "G", "T")


def write_23andme(path: str | os.PathLike, variants: pd.DataFrame, dosages: np.ndarray, *, male: bool = False) -> None:
    """Write one person's ALT dosages ``dosages`` (m,) at ``variants`` (id, chrom, pos, ref, alt;
    m rows, single-base SNPs) as a 23andMe raw-data file: ``#`` banner and header lines, then rsid,
    chromosome, position and the two called letters, tab-separated; ``--`` where the dosage is
    missing (-1). A man's X calls are written hemizygous (one letter), as 23andMe writes them
    outside the pseudo-autosomal regions."""
    d = np.asarray(dosages).astype(np.int64).ravel()
    if len(d) != len(variants):
        raise GenofaceError(f"{path}: {len(d)} dosages for {len(variants)} variants")
    ref = variants["ref"].to_numpy(dtype=str)
    alt = variants["alt"].to_numpy(dtype=str)
    not_snp = ~(np.isin(ref, _BASES) & np.isin(alt, _BASES))
    if not_snp.any():
        j = int(np.flatnonzero(not_snp)[0])
        raise GenofaceError(
            f"{path}: variant {variants['id'].iat[j]} is not a single-base SNP ({ref[j]}>{alt[j]}); "
            "a 23andMe file holds SNP calls only: leave such variants out"
        )
    if ((d < -1) | (d > 2)).any():
        raise GenofaceError(f"{path}: dosages must be 0, 1, 2 or -1 (missing)")
    counted = np.clip(d, 0, 2)
    diploid = np.char.add(np.char.multiply(ref, 2 - counted), np.char.multiply(alt, counted))
    hemizygous = np.where(d == 2, alt, ref)
    x = is_x(variants["chrom"].astype(str).to_numpy()) if male else np.zeros(len(d), dtype=bool)
    calls = np.where(d < 0, "--", np.where(x, hemizygous, diploid))
    table = pd.DataFrame(
        {
            "rsid": variants["id"].astype(str).to_numpy(),
            "chromosome": variants["chrom"].astype(str).to_numpy(),
            "position": variants["pos"].to_numpy(dtype=np.int64),
            "genotype": calls,
        }
    )
    text = table.to_csv(sep="\t", index=False, header=False, lineterminator="\n")
    banner = "# written by genoface in 23andMe's raw-data layout (not a 23andMe download)\n"
    Path(path).write_text(banner + "# rsid\tchromosome\tposition\tgenotype\n" + text)
