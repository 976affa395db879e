"""Any genotype file a user brings (VCF/BCF, a PLINK set, a consumer raw-data file) read onto a
model's variant panel by the allele matcher."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from genoface.core.errors import GenofaceError
from genoface.genetics._alleles import MatchReport, PreparedPanel, on_panel, panel_frequencies
from genoface.genetics._consumer import (
    NOT_CONSUMER,
    ConsumerGenotypes,
    consumer_genotype_data,
    detect_format,
    read_consumer_file,
)
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
    path: str | os.PathLike,
    panel: pd.DataFrame | PreparedPanel,
    data: GenotypeData | ConsumerGenotypes | None = None,
) -> tuple[GenotypeData, MatchReport]:
    """Genotypes from a VCF/BCF, a PLINK set or a consumer raw-data file, re-read on ``panel`` (a
    model's training variants, its ``panel_``) by the allele matcher, and its match report.

    VCF/BCF/PLINK files are on the forward strand: REF/ALT exchanged against the panel are read
    flipped, A/T and C/G SNPs included. A consumer file has no REF/ALT and no stated strand: its
    calls are read against the panel's alleles, A/T and C/G SNPs dropped. A file that gives none
    of the panel's variants is an error. ``data``: the file already read, as a GenotypeData
    (VCF/PLINK) or ConsumerGenotypes (a raw-data file): several models reading one file read it once.
    """
    path = Path(path)
    if isinstance(data, ConsumerGenotypes) or (data is None and is_consumer_file(path)):
        data, report = consumer_genotype_data(path if data is None else data, panel)
    else:
        data = read_genotypes(path) if data is None else data
        data, report = on_panel(data, panel, strand="forward", panel_freq=panel_frequencies(panel), source=str(path))
    if report.n_matched == 0:
        raise GenofaceError(
            f"{path}: none of the model's {report.n_panel:,} variants could be read from this file "
            f"({report.summary().split(': ', 1)[1]}); give genotypes with the variant ids or positions "
            "the model was trained on"
        )
    return data, report


@dataclass
class GenomeFile:
    """A genotype file a user brings, read once for every panel and trait model that reads it.

    ``everything``: a VCF/BCF/PLINK file's genotypes with indels and multi-allelic rows (PGS
    files and the published hair model count indels); ``plain``: its biallelic SNPs (what face
    models, trait predictors and sex read); ``calls``: a consumer raw-data file's parsed calls
    (no REF/ALT: each panel reads them by the allele matcher). ``calls`` is None for a
    VCF/PLINK file; ``everything`` and ``plain`` are None for a raw-data file."""

    path: Path
    everything: GenotypeData | None = None
    plain: GenotypeData | None = None
    calls: ConsumerGenotypes | None = None

    @classmethod
    def read(cls, path: str | os.PathLike, samples: list[str] | None = None) -> GenomeFile:
        """Read ``path`` (only the people ``samples`` of a VCF/PLINK file, all when None)."""
        path = Path(path)
        if is_consumer_file(path):
            return cls(path, calls=read_consumer_file(path))
        everything = select_samples(read_genotypes(path, snps_only=False), list(samples or []), path)
        return cls(path, everything, everything.biallelic_snps())

    def select(self, samples: list[str] | None) -> GenomeFile:
        """Only the people ``samples`` (all when None; a raw-data file holds one person)."""
        if not samples or self.consumer:
            return self
        everything = select_samples(self.everything, list(samples), self.path)
        return GenomeFile(self.path, everything, everything.biallelic_snps())

    @property
    def consumer(self) -> bool:
        return self.calls is not None

    def on_panel(self, panel: pd.DataFrame | PreparedPanel) -> tuple[GenotypeData, MatchReport]:
        """The file's genotypes on ``panel`` (:func:`read_genotypes_on_panel`), without reading it again."""
        return read_genotypes_on_panel(self.path, panel, self.calls if self.consumer else self.plain)


def select_samples(data: GenotypeData, samples: list[str] | None, source: Path) -> GenotypeData:
    """The people named in ``samples`` (all when None); unknown ids are an error naming them."""
    if not samples:
        return data
    index = pd.Index(data.sample_ids)
    unknown = [s for s in samples if s not in index]
    if unknown:
        raise GenofaceError(f"{source}: no sample {', '.join(unknown[:5])} in this genotype file")
    return data.take(index.get_indexer(samples))
