"""Any genotype file a user brings (VCF/BCF, a PLINK set, a consumer raw-data file) read onto a
model's variant panel by the allele matcher."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from genoface.core.errors import GenofaceError
from genoface.genetics._alleles import MatchReport, on_panel
from genoface.genetics._consumer import NOT_CONSUMER, consumer_genotype_data, detect_format
from genoface.io import read_genotypes
from genoface.io.genotypes import GenotypeData

#: Names of direct-to-consumer raw-data files, consulted only where the content tells nothing (no
#: such file, or no format detected): such a file goes to the consumer reader, whose error says
#: what is wrong; anything else to the VCF/BCF and PLINK reader.
CONSUMER_SUFFIXES = (".txt", ".csv", ".tsv", ".zip", ".txt.gz", ".csv.gz", ".tsv.gz")


def is_consumer_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a consumer raw-data file (23andMe, AncestryDNA, FTDNA, MyHeritage, ...),
    told from its content: a VCF (text, gzipped or BCF) or a PLINK set is none whatever its name,
    a raw-data table is one whatever its name (``.csv``, gzipped, a one-file ``.zip``)."""
    path = Path(path)
    by_name = path.name.lower().endswith(CONSUMER_SUFFIXES)
    if not path.is_file():  # a PLINK prefix, or nothing there: the name decides which reader says so
        return by_name and not Path(f"{path}.bed").exists()
    kind = detect_format(path)
    if kind in NOT_CONSUMER:
        return False
    return kind != "unknown" or by_name  # no format detected: the name decides


def read_genotypes_on_panel(
    path: str | os.PathLike, panel: pd.DataFrame, data: GenotypeData | None = None
) -> tuple[GenotypeData, MatchReport]:
    """Genotypes from a VCF/BCF, a PLINK set or a consumer raw-data file, re-read on ``panel`` (a
    model's training variants, its ``panel_``) by the allele matcher, and its match report.

    VCF/BCF/PLINK files are on the forward strand: REF/ALT exchanged against the panel are read
    flipped, A/T and C/G SNPs included. A consumer file has no REF/ALT and no stated strand: its
    calls are read against the panel's alleles, A/T and C/G SNPs dropped. A file that gives none
    of the panel's variants is an error. ``data``: the VCF/PLINK file already read (several
    models reading one file read it once).
    """
    path = Path(path)
    if is_consumer_file(path):
        data, report = consumer_genotype_data(path, panel)
    else:
        data = read_genotypes(path) if data is None else data
        freq = panel["af"].to_numpy(dtype=np.float64) if "af" in panel.columns else None
        data, report = on_panel(data, panel, strand="forward", panel_freq=freq, source=str(path))
    if report.n_matched == 0:
        raise GenofaceError(
            f"{path}: none of the model's {report.n_panel:,} variants could be read from this file "
            f"({report.summary().split(': ', 1)[1]}); give genotypes with the variant ids or positions "
            "the model was trained on"
        )
    return data, report


def select_samples(data: GenotypeData, samples: list[str] | None, source: Path) -> GenotypeData:
    """The people named in ``samples`` (all when None); unknown ids are an error naming them."""
    if not samples:
        return data
    index = pd.Index(data.sample_ids)
    unknown = [s for s in samples if s not in index]
    if unknown:
        raise GenofaceError(f"{source}: no sample {', '.join(unknown[:5])} in this genotype file")
    return data.take(index.get_indexer(samples))
