"""Polygenic scores from PGS Catalog scoring files, scored as ``plink2 --score`` scores them.

A scoring file (PGS Catalog scoring file format 2.0, plain or gzip) lists variants with an
effect allele and a weight; a person's score is the sum over variants of what each variant
contributes (pgsc_calc's ``SUM``)::

    ###PGS CATALOG SCORING FILE - see https://www.pgscatalog.org/downloads/#dl_ftp_scoring
    #pgs_id=PGS000001
    #genome_build=GRCh37
    #HmPOS_build=GRCh38                                       (harmonized files only)
    rsID  chr_name  chr_position  effect_allele  other_allele  effect_weight  [hm_rsID hm_chr hm_pos ...]

What a variant contributes, with e the number of copies of the effect allele (0, 1, 2):

- additive (the default): ``effect_weight x e``;
- ``is_dominant`` true: ``effect_weight x min(e, 1)`` (plink2 ``--score ... dominant``);
- ``is_recessive`` true: ``effect_weight x max(e - 1, 0)`` (plink2 ``recessive``);
- ``dosage_0_weight``, ``dosage_1_weight``, ``dosage_2_weight`` filled: the weight of e copies.

Rows flagged ``is_haplotype``, ``is_diplotype`` or ``is_interaction``, and rows whose alleles are
not DNA sequences (HLA alleles, ``APOE e4``), cannot be scored from SNP genotypes: they are
skipped and counted (reason "complex"), never scored as something else.

Missing calls (plink2's default mean imputation). A variant's missing call counts as the mean
over the called samples: for an additive variant ``2 p x weight`` with p the effect allele's
frequency among the called samples of the genotypes scored (not the scoring file's
``allelefrequency_effect`` unless ``missing="frequency"``); for a dominant or recessive one
``p x weight`` (plink2 scores those on a 0..1 scale and imputes p there); for per-dosage
weights ``w0 + (w2 - w0) p``, which is what plink2 gives for the same weights written as a
constant plus a dominant and a recessive term (any such decomposition gives this value). A
variant called in nobody is left out (it would add one constant to every score).
``missing="none"`` leaves missing calls out (plink2 ``no-mean-imputation``, what pgsc_calc runs
for fewer than 50 samples).

Matching goes through the one allele matcher (:func:`genoface.genetics._alleles.match_variants`,
strand unknown): by rsID, then by chromosome and position; indels are matched by their allele
sequences (read genotype files with ``read_genotypes(path, snps_only=False)``, or they never
reach the scorer). Strand-ambiguous A/T and C/G SNPs follow ``ambiguous``: "drop" (the default,
as pgsc_calc), "keep" (as written), or "frequency" (oriented by ``allelefrequency_effect``).

Consumer files
--------------
23andMe / AncestryDNA files have no REF/ALT. Read them against the scoring file itself, whose
other / effect alleles become the panel's REF / ALT::

    scoring = read_scoring_file("PGS000001_hmPOS_GRCh37.txt.gz")
    data, match = consumer_genotype_data("alice.txt", scoring_panel(scoring))
    scores, report = score(scoring, data, source="alice.txt")

This needs ``other_allele`` (or a single ``hm_inferOtherAllele``): without it a heterozygous
call cannot be read and is left missing. Variants not on the chip come back as columns with no
call, which :func:`score` leaves out (``n_no_calls``) just as it leaves out variants absent from
a VCF (``n_missing_from_genotypes``), so both routes give the same score for the same person.
"""

from __future__ import annotations

import csv
import gzip
import logging
import os
import re
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from genoface.core import schema
from genoface.core.errors import GenofaceError
from genoface.genetics import AlleleMatch, alt_frequencies, match_variants, panel_table
from genoface.io.genotypes import GenotypeData

log = logging.getLogger(__name__)

#: How strand-ambiguous (A/T, C/G) SNPs are treated by :func:`score` ("drop" = pgsc_calc's default).
AMBIGUOUS_POLICIES = ("drop", "keep", "frequency")
#: How missing calls are treated by :func:`score` ("mean" = plink2's default).
MISSING_POLICIES = ("mean", "frequency", "none")
#: What a variant contributes (:attr:`ScoringFile.variants` ``effect_type``).
EFFECT_TYPES = ("additive", "dominant", "recessive", "dosage")
#: Why a scoring row is not scored (``status`` of :func:`matched_variants`; "scored" otherwise).
DROP_REASONS = ("complex", "absent", "allele mismatch", "ambiguous strand", "duplicate", "no call")
#: Columns of :attr:`ScoringFile.variants`, in this order.
SCORING_COLUMNS = (
    "id",
    "chrom",
    "pos",
    "effect_allele",
    "other_allele",
    "weight",
    "allele_frequency",
    "effect_type",
    "dosage_0_weight",
    "dosage_1_weight",
    "dosage_2_weight",
    "skip",
    "line",
)

_EMPTY = frozenset({"", ".", "NA"})  # placeholders for "no value" in locator and allele columns
_TRUE = frozenset({"true", "t", "1", "yes"})
_COMPLEX_FLAGS = {"is_haplotype": "haplotype", "is_diplotype": "diplotype", "is_interaction": "interaction"}
_DOSAGE_COLUMNS = ("dosage_0_weight", "dosage_1_weight", "dosage_2_weight")
_SEQUENCE = re.compile(r"[ACGT]+")  # an allele spelled in bases; anything else cannot be genotyped
# Genotype entries (samples x variants) converted to float64 per step: ~32 MB, so a cohort of
# 10k people and a score of 1M variants never needs the whole float matrix at once.
_BLOCK_ELEMENTS = 1 << 22
# More columns than any scoring file has (they have a few dozen): a damaged line, not a header.
_MAX_COLUMNS = 10_000
# plink2 refuses to mean-impute from fewer samples (it asks for --read-freq): a mean of so few
# calls is a poor frequency estimate.
_FEW_SAMPLES = 50


@dataclass
class ScoringFile:
    """A PGS Catalog scoring file, one row per variant row of the file.

    Attributes
    ----------
    path : the file read.
    metadata : the ``#key=value`` header lines (pgs_id, pgs_name, trait_reported, genome_build,
        HmPOS_build, variants_number, weight_type, ...), values as written.
    variants : DataFrame with columns id (rsID, "" unknown), chrom ("1".."22", "X", "Y", "XY",
        "MT"; "" unknown), pos (int64, 0 unknown), effect_allele, other_allele ("" unknown),
        weight (float64 effect_weight; NaN for per-dosage rows), allele_frequency (float64
        frequency of the effect allele, NaN where not given), effect_type ("additive",
        "dominant", "recessive" or "dosage"), dosage_0_weight .. dosage_2_weight (NaN unless
        "dosage"), skip ("" or why the row cannot be scored: "haplotype", "diplotype",
        "interaction", or an allele that is not a DNA sequence), line (its line in the file).
        Harmonized columns (hm_rsID, hm_chr, hm_pos, hm_inferOtherAllele) are used where filled.
    positions_build : genome build of ``pos``: HmPOS_build when the harmonized positions were
        used, else genome_build ("" if the file does not say).
    """

    path: str
    metadata: dict[str, str]
    variants: pd.DataFrame
    positions_build: str = ""

    @property
    def n_variants(self) -> int:
        """Rows of the variant table, the skipped (complex) ones included."""
        return len(self.variants)

    @property
    def n_complex(self) -> int:
        return int((self.variants["skip"] != "").sum())

    @property
    def pgs_id(self) -> str:
        return self.metadata.get("pgs_id", "")


# ---- reading --------------------------------------------------------------------------------------


def read_scoring_file(path: str | os.PathLike) -> ScoringFile:
    """Read a PGS Catalog scoring file (``.txt`` or ``.txt.gz``).

    Raises a one-line :class:`GenofaceError` naming the file (and line, where there is one) for
    a missing required column (effect_allele; effect_weight or the three dosage_*_weight; rsID
    or chr_name + chr_position or their hm_ versions), a weight, position or frequency that is
    not a number, a row that is both dominant and recessive, a row with only some of its
    dosage weights, and an empty table. Haplotype, diplotype and interaction rows and rows
    whose alleles are not DNA sequences are kept with their reason in ``skip`` (never scored);
    a file with nothing else is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise GenofaceError(f"{path}: no such file; give a PGS Catalog scoring file (.txt or .txt.gz)")
    try:
        with _open_text(path) as fh:
            metadata, columns, header_line = _read_header(fh, path)
            table = _read_table(fh, columns, path, header_line)
    except UnicodeDecodeError:
        raise GenofaceError(f"{path}: not a text file; give a PGS Catalog scoring file (.txt or .txt.gz)") from None
    except (OSError, EOFError, zlib.error) as e:
        raise GenofaceError(f"{path}: cannot be read ({e}); download the scoring file again") from None
    variants, build = _variant_table(table, metadata, path, header_line)
    expected = metadata.get("variants_number", "")
    if expected.isdigit() and (len(expected) > 18 or int(expected) != len(variants)):  # int() of 5,000 digits fails
        log.warning("%s: the header says %s variants but the table has %d", path, expected[:20], len(variants))
    n_skip = int((variants["skip"] != "").sum())
    if n_skip == len(variants):
        raise GenofaceError(
            f"{path}: none of its {len(variants):,} rows can be scored from SNP genotypes (haplotype, diplotype "
            f"or interaction rows, or alleles that are not DNA sequences: {variants['skip'].iloc[0]}); "
            "use another score"
        )
    if n_skip:
        log.warning(
            "%s: %d of %d rows are skipped: haplotype / diplotype / interaction rows or non-sequence alleles",
            path,
            n_skip,
            len(variants),
        )
    return ScoringFile(path=str(path), metadata=metadata, variants=variants, positions_build=build)


def _open_text(path: Path):
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    if gz:
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _read_header(fh, path: Path) -> tuple[dict[str, str], list[str], int]:
    """Metadata of the ``#`` lines, the table's column names and the line they are on."""
    metadata: dict[str, str] = {}
    lineno = 0
    while True:
        raw = fh.readline()
        if raw == "":
            raise GenofaceError(
                f"{path}: no variant table after the '#' header lines; is this a PGS Catalog scoring file?"
            )
        lineno += 1
        line = raw.rstrip("\r\n")
        if line.startswith("#"):
            # "##..." lines are titles; "#key=value" (v2) and "# Key = value" (v1) are metadata.
            # Spreadsheet exports pad header lines with tabs: stripped with the value.
            if not line.startswith("##") and "=" in line:
                key, _, value = line[1:].partition("=")
                metadata[key.strip()] = value.strip()
            continue
        if not line.strip():
            continue
        columns = [c.strip() for c in line.split("\t")]
        if len(columns) > _MAX_COLUMNS:
            # A damaged line taken for the header: refused before pandas is asked to build a
            # table of a million columns.
            raise GenofaceError(
                f"{path}, line {lineno}: the variant table header has {len(columns):,} columns (a scoring "
                "file has a few dozen); is the file damaged?"
            )
        dups = sorted(c for c, k in Counter(columns).items() if k > 1)
        if dups:
            raise GenofaceError(f"{path}, line {lineno}: column(s) {dups} appear more than once in the header")
        return metadata, columns, lineno


def _read_table(fh, columns: list[str], path: Path, header_line: int) -> pd.DataFrame:
    """The rows after the header as str columns, with a ``_line`` column (file line numbers).

    Empty fields after the last column (rows ending in a tab, as spreadsheets export them) are
    allowed; a filled one is refused with its line. pandas would otherwise take a first row
    wider than the header for an index column and shift every field by one, silently.
    """
    names = list(columns)
    start = fh.tell()
    first = fh.readline().rstrip("\r\n")
    fh.seek(start)
    extra = first.split("\t")[len(columns) :]
    if len(extra) > _MAX_COLUMNS:
        raise GenofaceError(
            f"{path}, line {header_line + 1}: {len(extra) + len(columns):,} fields but the header on line "
            f"{header_line} has {len(columns)}; is the file damaged?"
        )
    # Names no header has, for the empty trailing fields (checked empty below).
    padding = [f"\x00extra{k}" for k in range(len(extra))]
    names += padding
    try:
        # Blank lines are kept (then dropped) so that row k is on line header_line + 1 + k.
        df = pd.read_csv(
            fh,
            sep="\t",
            header=None,
            names=names,
            index_col=False,
            dtype=str,
            na_filter=False,
            skip_blank_lines=False,
            quoting=csv.QUOTE_NONE,
            engine="c",
        )
    except pd.errors.ParserError:
        raise GenofaceError(
            f"{path}, line {_first_long_row(path, header_line, len(names))}: more fields than the "
            f"{len(columns)} columns of the header on line {header_line}; fix or remove the line"
        ) from None
    df = df.fillna("")  # short rows
    df["_line"] = header_line + 1 + np.arange(len(df))
    if padding:
        filled = (df[padding] != "").any(axis=1).to_numpy()
        if filled.any():
            raise GenofaceError(
                f"{path}, line {df['_line'].iloc[filled.argmax()]}: more fields than the {len(columns)} columns "
                f"of the header on line {header_line}; fix or remove the line"
            )
        df = df.drop(columns=padding)
    df = df[(df[columns] != "").any(axis=1)]
    if df.empty:
        raise GenofaceError(f"{path}: the variant table (header on line {header_line}) has no rows; download it again")
    return df.reset_index(drop=True)


def _first_long_row(path: Path, header_line: int, n_columns: int) -> int:
    """Line number of the first table row with more than ``n_columns`` fields (error path only)."""
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            if lineno > header_line and len(line.rstrip("\r\n").split("\t")) > n_columns:
                return lineno
    return header_line + 1


class _RawTable:
    """The variant table as read (str columns), its columns looked up by case-insensitive name,
    with the file and line numbers that its error messages name."""

    def __init__(self, df: pd.DataFrame, path: Path, header_line: int) -> None:
        self.df = df
        self.path = path
        self.header_line = header_line
        self.lines = df["_line"].to_numpy()
        self.n = len(df)
        self._by_lower = {c.lower(): c for c in df.columns}

    def has(self, name: str) -> bool:
        return name.lower() in self._by_lower

    def col(self, name: str) -> pd.Series | None:
        """The column with its fields stripped; None where the file has no such column."""
        c = self._by_lower.get(name.lower())
        return None if c is None else self.df[c].str.strip()

    def blank(self, name: str) -> pd.Series:
        """The column with "no value" placeholders as "" (all "" where it is absent)."""
        return _blank(self.col(name), self.n)

    def flag(self, name: str) -> np.ndarray:
        """A true/false column as bool, all false where it is absent."""
        values = self.col(name)
        return np.zeros(self.n, dtype=bool) if values is None else values.str.lower().isin(_TRUE).to_numpy()

    def header_error(self, what: str) -> GenofaceError:
        return GenofaceError(f"{self.path}, line {self.header_line}: {what}")

    def refuse(self, mask: np.ndarray, what: str) -> None:
        """Raise for the first row of ``mask``, if any."""
        if mask.any():
            raise GenofaceError(f"{self.path}, line {self.lines[mask.argmax()]}: {what}")

    def refuse_value(self, mask: np.ndarray, name: str, values: pd.Series, what: str) -> None:
        """Raise for the first row of ``mask``, if any, quoting its field of column ``name``."""
        if mask.any():
            k = mask.argmax()
            raise GenofaceError(f"{self.path}, line {self.lines[k]}: {name} {values.iloc[k]!r} {what}")


def _variant_table(df: pd.DataFrame, metadata: dict[str, str], path: Path, header_line: int):
    """:attr:`ScoringFile.variants` and the build of its positions, from the raw str table."""
    t = _RawTable(df, path, header_line)
    # Rows that are not single variants: kept with the reason, never scored.
    skip = np.full(t.n, "", dtype=object)
    for name, kind in _COMPLEX_FLAGS.items():
        skip = np.where((skip == "") & t.flag(name), kind, skip)
    has_dosage = _check_columns(t)
    # Checked in this order so that a file with several faults is told of the same one first.
    scored = skip == ""
    dosage, is_dosage = _dosage_weights(t, has_dosage, scored)
    weight = _effect_weights(t, scored, is_dosage)
    effect_type = _effect_types(t, scored, is_dosage)
    effect, other = _alleles(t, scored)
    skip = _skip_non_sequence(effect, other, skip)
    scored = skip == ""
    hm_id, au_id = t.blank("hm_rsID"), t.blank("rsID")
    ids = hm_id.where(hm_id != "", au_id)
    chrom, pos, build = _locations(t, metadata, scored)
    af = _allele_frequencies(t, scored)
    variants = pd.DataFrame(
        {
            "id": ids.to_numpy(dtype=object).astype(str),
            "chrom": np.asarray(chrom).astype(str),
            "pos": np.asarray(pos, dtype=np.int64),
            "effect_allele": effect.to_numpy(dtype=object).astype(str),
            "other_allele": other.to_numpy(dtype=object).astype(str),
            "weight": weight,
            "allele_frequency": af,
            "effect_type": effect_type.astype(str),
            "dosage_0_weight": dosage[0],
            "dosage_1_weight": dosage[1],
            "dosage_2_weight": dosage[2],
            "skip": skip.astype(str),
            "line": t.lines.astype(np.int64),
        }
    )
    return variants, build


def _check_columns(t: _RawTable) -> bool:
    """Refuse a header without the columns a score needs; True where it has per-dosage weights."""
    if not t.has("effect_allele"):
        raise t.header_error(
            "no effect_allele column in the variant table header; "
            "a PGS Catalog scoring file needs effect_allele and effect_weight"
        )
    present = [c for c in _DOSAGE_COLUMNS if t.has(c)]
    if present and len(present) < 3:
        raise t.header_error(
            f"the header has {', '.join(present)} but not all of "
            f"{', '.join(_DOSAGE_COLUMNS)}; per-dosage weights need the three columns"
        )
    if not t.has("effect_weight") and not present:
        raise t.header_error(
            "no effect_weight column in the variant table header (nor "
            "dosage_0_weight, dosage_1_weight, dosage_2_weight); a PGS Catalog scoring file needs weights"
        )
    has_id = t.has("rsID") or t.has("hm_rsID")
    has_pos = (t.has("chr_name") and t.has("chr_position")) or (t.has("hm_chr") and t.has("hm_pos"))
    if not (has_id or has_pos):
        raise t.header_error(
            "no rsID and no chr_name + chr_position columns (nor hm_rsID / "
            "hm_chr + hm_pos); variants cannot be found without one of them"
        )
    return bool(present)


def _dosage_weights(t: _RawTable, has_dosage: bool, scored: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The weights of 0, 1 and 2 copies (3, n), NaN except on the rows that fill the three
    dosage columns, and which rows those are."""
    dosage = np.full((3, t.n), np.nan)
    if not has_dosage:
        return dosage, np.zeros(t.n, dtype=bool)
    raw = [t.blank(c) for c in _DOSAGE_COLUMNS]
    filled = np.array([(r != "").to_numpy() for r in raw])
    is_dosage = filled.all(axis=0)
    t.refuse(
        scored & filled.any(axis=0) & ~is_dosage,
        f"only some of {', '.join(_DOSAGE_COLUMNS)} are filled; give the weight of 0, 1 and 2 copies",
    )
    for k, (name, r) in enumerate(zip(_DOSAGE_COLUMNS, raw, strict=True)):
        dosage[k] = pd.to_numeric(r, errors="coerce").to_numpy(dtype=np.float64)
        t.refuse_value(scored & is_dosage & ~np.isfinite(dosage[k]), name, r, "is not a number")
    dosage[:, ~is_dosage] = np.nan
    return dosage, is_dosage


def _effect_weights(t: _RawTable, scored: np.ndarray, is_dosage: np.ndarray) -> np.ndarray:
    """effect_weight per row; NaN on per-dosage rows."""
    raw_weight = t.col("effect_weight")
    if raw_weight is None:
        t.refuse(scored & ~is_dosage, "no dosage_*_weight and the file has no effect_weight column; give the weights")
        return np.full(t.n, np.nan)
    weight = pd.to_numeric(raw_weight, errors="coerce").to_numpy(dtype=np.float64)
    t.refuse_value(scored & ~is_dosage & ~np.isfinite(weight), "effect_weight", raw_weight, "is not a number")
    return np.where(is_dosage, np.nan, weight)


def _effect_types(t: _RawTable, scored: np.ndarray, is_dosage: np.ndarray) -> np.ndarray:
    """One of EFFECT_TYPES per row; a row may say one model only."""
    dominant, recessive = t.flag("is_dominant"), t.flag("is_recessive")
    t.refuse(scored & dominant & recessive, "is_dominant and is_recessive are both true; a weight has one model")
    t.refuse(
        scored & is_dosage & (dominant | recessive),
        "is_dominant / is_recessive is true on a row with dosage_*_weight; per-dosage weights already say it",
    )
    return np.select([is_dosage, dominant, recessive], ["dosage", "dominant", "recessive"], "additive")


def _alleles(t: _RawTable, scored: np.ndarray) -> tuple[pd.Series, pd.Series]:
    """Effect and other allele, upper case; other_allele "" where unknown."""
    effect = t.col("effect_allele").str.upper()
    t.refuse(scored & effect.isin(_EMPTY).to_numpy(), "effect_allele is empty; every variant needs one")
    other_col = t.col("other_allele")
    if other_col is None:
        other_col = t.col("reference_allele")  # the format 1.0 name
    other = _blank(other_col, t.n).str.upper()
    infer = t.col("hm_inferOtherAllele")
    if infer is not None:
        # hm_inferOtherAllele lists every allele seen in the reference ("A/G"); only a single
        # one names the other allele.
        infer = infer.str.upper().where(~infer.isin(_EMPTY) & ~infer.str.contains("/", regex=False), "")
        other = other.where(other != "", infer.reset_index(drop=True))
    return effect, other


def _skip_non_sequence(effect: pd.Series, other: pd.Series, skip: np.ndarray) -> np.ndarray:
    """``skip`` with the reason added on rows whose alleles are not spelled in bases
    (HLA-DRB1*15, APOE e4, <DEL>, -): they cannot be found in genotype files, and matching
    them by position could pick the wrong variant."""
    for name, alleles, may_be_empty in (("effect allele", effect, False), ("other allele", other, True)):
        text = alleles.reset_index(drop=True)
        ok = text.str.fullmatch(_SEQUENCE.pattern).to_numpy(dtype=bool) | (may_be_empty & (text == "").to_numpy())
        bad = (skip == "") & ~ok
        if bad.any():
            why = (f"{name} " + text.str.slice(0, 40).map(repr) + " is not a DNA sequence").to_numpy(dtype=object)
            skip = np.where(bad, why, skip)
    return skip


def _locations(t: _RawTable, metadata: dict[str, str], scored: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """Chromosome ("" unknown), position (0 unknown) and the build of the positions: the
    harmonized ones where the file has them, else the author's."""
    au_chrom = _chroms(t, "chr_name", scored)
    au_pos = _positions(t.col("chr_position"), "chr_position", t.lines, t.path, scored)
    genome_build = metadata.get("genome_build", metadata.get("Original Genome Build", ""))
    if t.has("hm_chr") and t.has("hm_pos"):
        build = metadata.get("HmPOS_build", "")
        chrom, pos = _harmonized_locations(t, scored, au_chrom, au_pos, genome_build, build)
    else:
        chrom, pos, build = au_chrom.to_numpy(), au_pos, genome_build
    chrom = np.where(pos > 0, chrom, "")
    pos = np.where(chrom != "", pos, 0)
    return chrom, pos, build


def _harmonized_locations(
    t: _RawTable, scored: np.ndarray, au_chrom: pd.Series, au_pos: np.ndarray, genome_build: str, build: str
) -> tuple[np.ndarray, np.ndarray]:
    """hm_chr and hm_pos where filled; elsewhere the author's location where it is on the same build."""
    hm_chrom = _chroms(t, "hm_chr", scored)
    hm_pos = _positions(t.col("hm_pos"), "hm_pos", t.lines, t.path, scored)
    use_hm = (hm_chrom != "").to_numpy() & (hm_pos > 0)
    # Where harmonization failed the author's position is kept only if it is on the same
    # build: a GRCh37 position among GRCh38 ones would match the wrong variant.
    fallback = ~use_hm if _same_build(genome_build, build) else np.zeros(t.n, dtype=bool)
    chrom = np.where(use_hm, hm_chrom, np.where(fallback, au_chrom, ""))
    pos = np.where(use_hm, hm_pos, np.where(fallback, au_pos, 0))
    if (~use_hm & ~fallback & (au_pos > 0)).any():
        log.info(
            "%s: %d variants without harmonized position are matched by rsID only (author positions are %s, "
            "harmonized %s)",
            t.path,
            int((~use_hm & ~fallback & (au_pos > 0)).sum()),
            genome_build or "of unknown build",
            build or "of unknown build",
        )
    return chrom, pos


def _chroms(t: _RawTable, name: str, scored: np.ndarray) -> pd.Series:
    """Normalized chromosome names of column ``name`` ("" where empty)."""
    names = t.blank(name)
    # No chromosome name is this long; a damaged field must not reach the name parser.
    long = (names.str.len() > 64).to_numpy()
    if (long & scored).any():
        k = (long & scored).argmax()
        raise GenofaceError(f"{t.path}, line {t.lines[k]}: {name} {names.iloc[k][:40]!r}... is not a chromosome name")
    return _normalize_chrom(names.where(~long, ""))


def _allele_frequencies(t: _RawTable, scored: np.ndarray) -> np.ndarray:
    """allelefrequency_effect, NaN where not given."""
    freq = t.col("allelefrequency_effect")
    if freq is None:
        return np.full(t.n, np.nan)
    af = pd.to_numeric(freq, errors="coerce").to_numpy(dtype=np.float64)
    in_range = (af >= 0) & (af <= 1)
    t.refuse_value(
        scored & ~freq.isin(_EMPTY).to_numpy() & ~in_range,
        "allelefrequency_effect",
        freq,
        "is not a frequency between 0 and 1",
    )
    return np.where(in_range, af, np.nan)


def _blank(s: pd.Series | None, n: int) -> pd.Series:
    """The column with its "no value" placeholders as "", or all "" where it is absent."""
    if s is None:
        return pd.Series([""] * n, dtype=object)
    return s.where(~s.isin(_EMPTY), "").reset_index(drop=True)


def _positions(s: pd.Series | None, name: str, lines: np.ndarray, path: Path, check: np.ndarray) -> np.ndarray:
    """Integer positions, 0 where empty; anything else that is not a positive integer is refused
    on the rows to ``check`` (a skipped haplotype row may hold anything) and 0 on the others."""
    if s is None:
        return np.zeros(len(lines), dtype=np.int64)
    empty = s.isin(_EMPTY).to_numpy()
    num = pd.to_numeric(s.where(~empty, "0"), errors="coerce").to_numpy(dtype=np.float64)
    valid = (num >= 0) & (num == np.floor(num)) & (num < 2**62)
    bad = ~empty & ~(valid & (num > 0))
    if (bad & check).any():
        k = (bad & check).argmax()
        raise GenofaceError(f"{path}, line {lines[k]}: {name} {s.iloc[k]!r} is not a positive integer position")
    return np.where(valid, num, 0).astype(np.int64)


def _normalize_chrom(s: pd.Series) -> pd.Series:
    """Chromosome names as the genotype readers write them ("chr" dropped, 23 -> X, ...)."""
    return pd.Series(schema.normalize_chroms(s.reset_index(drop=True)), dtype=object)


def _same_build(a: str, b: str) -> bool:
    na, nb = schema.normalize_build(a), schema.normalize_build(b)
    if na or nb:
        return na == nb
    a, b = a.strip().upper(), b.strip().upper()
    return bool(a) and a == b


def scoring_panel(scoring: ScoringFile | str | os.PathLike) -> pd.DataFrame:
    """The scoring file as a variant panel: columns id, chrom, pos, ref (= other_allele, "" if
    unknown), alt (= effect_allele), one row per scorable variant (skipped rows left out), in
    file order.

    Pass it to :func:`genoface.genetics._consumer.consumer_genotype_data` to read a 23andMe /
    AncestryDNA file (which has no REF/ALT) as dosages of the effect alleles, then to
    :func:`score` (see the module docstring). Heterozygous calls are read only where
    other_allele is known.
    """
    if not isinstance(scoring, ScoringFile):
        scoring = read_scoring_file(scoring)
    v = scoring.variants[scoring.variants["skip"] == ""]
    return pd.DataFrame(
        {
            "id": v["id"].to_numpy(),
            "chrom": v["chrom"].to_numpy(),
            "pos": v["pos"].to_numpy(),
            "ref": v["other_allele"].to_numpy(),
            "alt": v["effect_allele"].to_numpy(),
        }
    )


# ---- scoring --------------------------------------------------------------------------------------


@dataclass
class _Scored:
    """Everything :func:`score` and :func:`matched_variants` compute, kept together."""

    match: AlleleMatch
    rows: np.ndarray  # (k,) scoring rows given a genotype column, sorted by column
    reasons: np.ndarray  # (n_rows,) "" scored, else a DROP_REASONS entry
    total: np.ndarray  # (n,) score per sample
    n_missing: np.ndarray  # (n,) missing calls per sample over the variants scored
    usable: np.ndarray  # (k,) the variant has a call in some sample
    effect_freq: np.ndarray  # (k,) effect allele frequency among the called samples
    imputed: np.ndarray  # (k,) what a missing call contributes (NaN: left out)
    n_called: np.ndarray  # (k,) samples called
    multiallelic_ref: np.ndarray  # (k,) REF counted on a split multi-allelic record
    from_file: int
    from_data: int
    positions_used: bool


def score(
    scoring: ScoringFile | str | os.PathLike,
    data: GenotypeData,
    *,
    ambiguous: str = "drop",
    missing: str = "mean",
    source: str = "the genotypes",
) -> tuple[pd.DataFrame, dict]:
    """Polygenic scores of every sample in ``data``, and a report of how the variants matched.

    Parameters
    ----------
    scoring : a :class:`ScoringFile` or the path of one.
    data : genotypes (ALT dosage 0/1/2, -1 missing) and their variants (chrom, pos, id, ref,
        alt). Read VCF / PLINK files with ``read_genotypes(path, snps_only=False)`` so that
        indels and multi-allelic records reach the scorer.
    ambiguous : A/T and C/G SNPs (whose strand cannot be told from their alleles): "drop"
        (default, as pgsc_calc), "keep" (read on the strand written in both files), or
        "frequency" (oriented by allelefrequency_effect against the ALT frequency of ``data``
        where both are far enough from 0.5; dropped otherwise).
    missing : missing calls: "mean" (default, plink2's mean imputation from the samples of
        ``data``), "frequency" (from the file's allelefrequency_effect where given, else the
        samples; plink2 ``--read-freq``), "none" (left out; plink2 ``no-mean-imputation``).
    source : name of the genotype file, used in messages and the report.

    Matching (:func:`genoface.genetics._alleles.match_variants`, strand unknown): by rsID, then
    chrom:pos (not used when ``data.build`` and the file's positions build are both known and
    differ); effect allele = ALT counts the dosage, = REF counts 2 - dosage (on a split
    multi-allelic record: 2 - the ALT dosages of all its rows, i.e. the copies of REF);
    alleles that fit only after complementing both are read on the other strand (never for
    indels). Left out, each with its reason (:func:`matched_variants`): complex rows, variants
    absent from ``data``, alleles that fit neither strand, dropped A/T or C/G SNPs, a second
    scoring row on a genotype variant already used, and a variant called in nobody.

    Returns
    -------
    scores : DataFrame indexed by sample_id with columns score (the sum, pgsc_calc's SUM and
        plink2's SCORE_SUM), score_avg (score / (2 x variants), plink2's SCORE_AVG: with
        ``missing="none"`` the denominator counts the sample's called variants only),
        n_variants_used, n_imputed (missing calls imputed), n_missing (missing calls).
    report : JSON-able dict: scoring (path), pgs_id, source, n_scoring (rows of the file),
        n_matched (variants scored), n_matched_by_id, n_matched_by_position, n_flipped (effect
        allele = REF), n_strand_flipped, n_indels (indels scored), effect_types (scored per
        type), n_ambiguous, ambiguous (the rule), n_ambiguous_kept, n_ambiguous_by_frequency,
        n_ambiguous_dropped, n_allele_mismatch, n_missing_from_genotypes, n_multiallelic
        (variants that found several genotype rows), n_duplicate, n_no_calls, n_complex,
        dropped (count per reason), fraction_matched (n_matched / n_scoring), missing (the
        rule), imputation ("none", "genotypes", "allelefrequency_effect" or
        "allelefrequency_effect+genotypes": where imputed values came from), n_imputed_calls,
        n_missing_calls, positions_build, genotypes_build, positions_used, summary (one line).
    """
    if not isinstance(scoring, ScoringFile):
        scoring = read_scoring_file(scoring)
    s = _score(scoring, data, ambiguous, missing, source)
    report = _report(scoring, data, s, ambiguous, missing, source)
    _warn_if_few_samples_imputed(s, data, source)
    log.info("%s", report["summary"])
    return _score_table(s, data, report["n_matched"], missing), report


def _warn_if_few_samples_imputed(s: _Scored, data: GenotypeData, source: str) -> None:
    if s.from_data and data.n_samples < _FEW_SAMPLES:
        log.warning(
            "%s: missing calls at %d variants imputed from the mean of only %d samples (plink2 refuses below %d); "
            "consider missing='frequency' or 'none'",
            source,
            s.from_data,
            data.n_samples,
            _FEW_SAMPLES,
        )


def _report(scoring: ScoringFile, data: GenotypeData, s: _Scored, ambiguous: str, missing: str, source: str) -> dict:
    """The report of :func:`score` (see there), its one-line summary included."""
    dropped = {reason: int((s.reasons == reason).sum()) for reason in DROP_REASONS}
    n_ambiguous_kept = int(s.match.palindromic[s.usable].sum())
    scored = _scored_counts(scoring, data, s)
    report = {
        "scoring": scoring.path,
        "pgs_id": scoring.pgs_id,
        "source": source,
        "n_scoring": scoring.n_variants,
        **scored,
        "n_ambiguous": n_ambiguous_kept + dropped["ambiguous strand"],
        "ambiguous": ambiguous,
        "n_ambiguous_kept": n_ambiguous_kept,
        "n_ambiguous_by_frequency": s.match.report.n_ambiguous_by_frequency,
        "n_ambiguous_dropped": dropped["ambiguous strand"],
        "n_allele_mismatch": dropped["allele mismatch"],
        "n_missing_from_genotypes": dropped["absent"],
        "n_multiallelic": s.match.report.n_multiallelic,
        "n_duplicate": dropped["duplicate"],
        "n_no_calls": dropped["no call"],
        "n_complex": dropped["complex"],
        "dropped": dropped,
        "fraction_matched": scored["n_matched"] / scoring.n_variants,
        "missing": missing,
        "imputation": _imputation_source(s.from_file, s.from_data),
        "n_imputed_calls": int(s.n_missing.sum()) if missing != "none" else 0,
        "n_missing_calls": int(s.n_missing.sum()),
        "positions_build": schema.normalize_build(scoring.positions_build) or scoring.positions_build,
        "genotypes_build": data.build or "",
        "positions_used": s.positions_used,
    }
    report["summary"] = _summary(scoring, report)
    return report


def _scored_counts(scoring: ScoringFile, data: GenotypeData, s: _Scored) -> dict:
    """How the variants scored were matched and what they are (the report's n_matched .. effect_types)."""
    m, usable = s.match, s.usable
    cols = m.cols[usable]
    ref = pd.Series(data.variants["ref"].to_numpy(dtype=object)[cols], dtype=object)
    alt = pd.Series(data.variants["alt"].to_numpy(dtype=object)[cols], dtype=object)
    is_indel = ((ref.str.len() != 1) | (alt.str.len() != 1)).to_numpy()
    types = scoring.variants["effect_type"].to_numpy(dtype=object)[s.rows[usable]]
    return {
        "n_matched": int(usable.sum()),
        "n_matched_by_id": int(m.by_id[usable].sum()),
        "n_matched_by_position": int((~m.by_id[usable]).sum()),
        "n_flipped": int(m.flip[usable].sum()),
        "n_strand_flipped": int(m.strand[usable].sum()),
        "n_indels": int(is_indel.sum()),
        "effect_types": {t: int((types == t).sum()) for t in EFFECT_TYPES if (types == t).any()},
    }


def _score_table(s: _Scored, data: GenotypeData, n_used: int, missing: str) -> pd.DataFrame:
    """The scores of :func:`score`, one row per sample."""
    if missing == "none":
        denominator = 2.0 * (n_used - s.n_missing)
    else:
        denominator = np.full(data.n_samples, 2.0 * n_used)
    with np.errstate(invalid="ignore", divide="ignore"):
        average = np.where(denominator > 0, s.total / denominator, np.nan)
    return pd.DataFrame(
        {
            "score": s.total,
            "score_avg": average,
            "n_variants_used": np.full(data.n_samples, n_used, dtype=np.int64),
            "n_imputed": s.n_missing if missing != "none" else np.zeros(data.n_samples, dtype=np.int64),
            "n_missing": s.n_missing,
        },
        index=pd.Index(data.sample_ids, name="sample_id"),
    )


def matched_variants(
    scoring: ScoringFile | str | os.PathLike,
    data: GenotypeData,
    *,
    ambiguous: str = "drop",
    missing: str = "mean",
    source: str = "the genotypes",
) -> pd.DataFrame:
    """How each row of the scoring file was matched and scored (pgsc_calc's match log).

    One row per scoring-file row, in file order: line, id, chrom, pos, effect_allele,
    other_allele, effect_type, weight, dosage_0_weight .. dosage_2_weight, status ("scored" or
    the reason it was not: "complex: ...", "absent", "allele mismatch", "ambiguous strand",
    "duplicate", "no call"), target (column of ``data``, -1 if none), target_id, target_chrom,
    target_pos, target_ref, target_alt, counted ("ALT" / "REF": the genotype allele that is the
    effect allele; what ``plink2 --score`` must be given), strand_flipped, by_id,
    multiallelic_ref (REF counted as 2 - the ALT dosages of a split multi-allelic record's
    rows), n_called, effect_frequency (among the called samples), imputed (what a missing call
    contributes; NaN where missing calls are left out or there are none to fill). Same
    arguments as :func:`score`.
    """
    if not isinstance(scoring, ScoringFile):
        scoring = read_scoring_file(scoring)
    s = _score(scoring, data, ambiguous, missing, source)
    v = scoring.variants
    n = len(v)
    dv = data.variants

    def spread(values: np.ndarray, fill, dtype=None) -> np.ndarray:
        out = np.full(n, fill, dtype=dtype if dtype is not None else np.asarray(values).dtype)
        out[s.rows] = values
        return out

    cols = s.match.cols
    status = np.where(s.reasons == "", "scored", s.reasons).astype(object)
    complex_rows = s.reasons == "complex"
    status[complex_rows] = "complex: " + v["skip"].to_numpy(dtype=object)[complex_rows]
    out = v[["line", "id", "chrom", "pos", "effect_allele", "other_allele", "effect_type", "weight"]].copy()
    for c in _DOSAGE_COLUMNS:
        out[c] = v[c]
    out["status"] = status.astype(str)
    out["target"] = spread(cols.astype(np.int64), -1)
    out["target_id"] = spread(dv["id"].to_numpy(dtype=object)[cols], "", object).astype(str)
    out["target_chrom"] = spread(dv["chrom"].to_numpy(dtype=object)[cols], "", object).astype(str)
    out["target_pos"] = spread(dv["pos"].to_numpy(dtype=np.int64)[cols], 0)
    out["target_ref"] = spread(dv["ref"].to_numpy(dtype=object)[cols], "", object).astype(str)
    out["target_alt"] = spread(dv["alt"].to_numpy(dtype=object)[cols], "", object).astype(str)
    out["counted"] = spread(np.where(s.match.flip, "REF", "ALT").astype(object), "", object).astype(str)
    out["strand_flipped"] = spread(s.match.strand, False)
    out["by_id"] = spread(s.match.by_id, False)
    out["multiallelic_ref"] = spread(s.multiallelic_ref, False)
    out["n_called"] = spread(s.n_called.astype(np.int64), 0)
    out["effect_frequency"] = spread(s.effect_freq, np.nan)
    out["imputed"] = spread(s.imputed, np.nan)
    return out.reset_index(drop=True)


def _score(scoring: ScoringFile, data: GenotypeData, ambiguous: str, missing: str, source: str) -> _Scored:
    """Match, then sum; the one computation behind :func:`score` and :func:`matched_variants`."""
    if ambiguous not in AMBIGUOUS_POLICIES:
        raise GenofaceError(f"ambiguous must be one of {AMBIGUOUS_POLICIES}, got {ambiguous!r}")
    if missing not in MISSING_POLICIES:
        raise GenofaceError(f"missing must be one of {MISSING_POLICIES}, got {missing!r}")
    v = scoring.variants
    skip = (v["skip"] != "").to_numpy()
    positions_used = _positions_usable(scoring, data, source)
    panel = _lookup_panel(v, skip, positions_used)
    m = _match(panel, data, ambiguous, v["allele_frequency"].to_numpy(), source)
    reasons = _row_reasons(m, panel, skip)
    _check_some_scorable(scoring, data, source, m, reasons, positions_used)
    rows, cols, flip = m.rows, m.cols, m.flip
    file_freq = v["allele_frequency"].to_numpy()[rows] if missing == "frequency" else np.full(len(rows), np.nan)
    siblings = _multiallelic_siblings(data.variants, cols, flip)
    sums = _weighted_sum(
        data.genotypes, cols, flip, _copy_contributions(v, rows), file_freq, siblings, missing != "none"
    )
    reasons[rows[~sums.usable]] = "no call"
    if not sums.usable.any():
        raise GenofaceError(
            f"{scoring.path}: the {len(rows):,} variants it shares with {source} have no calls in any sample; "
            "check that the genotypes were read against this scoring file"
        )
    multi = np.zeros(len(rows), dtype=bool)
    multi[list(siblings)] = True
    return _Scored(
        match=m,
        rows=rows,
        reasons=reasons,
        total=sums.total,
        n_missing=sums.n_missing,
        usable=sums.usable,
        effect_freq=sums.effect_freq,
        imputed=sums.imputed,
        n_called=sums.n_called,
        multiallelic_ref=multi,
        from_file=sums.from_file,
        from_data=sums.from_data,
        positions_used=positions_used,
    )


def _lookup_panel(v: pd.DataFrame, skip: np.ndarray, positions_used: bool) -> pd.DataFrame:
    """The scoring rows as the allele matcher's panel: REF = other allele, ALT = effect allele.
    Skipped rows are looked up by nothing, and across builds no row by chrom:pos."""
    no_position = skip | (not positions_used)
    panel = pd.DataFrame(
        {
            "id": v["id"].to_numpy(),
            "chrom": np.where(no_position, "", v["chrom"].to_numpy(dtype=object)),
            "pos": np.where(no_position, 0, v["pos"].to_numpy()),
            "ref": v["other_allele"].to_numpy(),
            "alt": v["effect_allele"].to_numpy(),
        }
    )
    panel.loc[skip, "id"] = ""
    return panel


def _check_some_scorable(
    scoring: ScoringFile, data: GenotypeData, source: str, m: AlleleMatch, reasons: np.ndarray, positions_used: bool
) -> None:
    """Refuse a score none of whose variants is found, or none of those found matched."""
    n_rows = scoring.n_variants
    n_found = int((~np.isin(reasons, ["absent", "complex"])).sum())
    if n_found == 0:
        build = scoring.positions_build or "of the scoring file"
        if not positions_used:
            raise GenofaceError(
                f"{scoring.path}: none of its {n_rows:,} variants is in {source} by rsID, and its {build} positions "
                f"are not looked up in {data.build} genotypes; use the scoring file harmonized to {data.build}"
            )
        raise GenofaceError(
            f"{scoring.path}: none of its {n_rows:,} variants is in {source} (matched by rsID and by "
            f"chrom:pos); is the genome build {build} like that of {source}?"
        )
    if len(m.rows) == 0:
        raise GenofaceError(
            f"{scoring.path}: {n_found:,} of its {n_rows:,} variants are in {source} but none can be "
            f"scored ({int((reasons == 'allele mismatch').sum()):,} allele mismatches, "
            f"{int((reasons == 'ambiguous strand').sum()):,} "
            "strand-ambiguous dropped); check that both files use the same alleles, or pass ambiguous='keep'"
        )


def _copy_contributions(v: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """What 0, 1 and 2 copies of the effect allele contribute (3, k), per matched variant."""
    w = v["weight"].to_numpy()[rows]
    etype = v["effect_type"].to_numpy(dtype=object)[rows]
    values = np.zeros((3, len(rows)))
    values[1] = np.where(etype == "recessive", 0.0, w)
    values[2] = np.where(etype == "additive", 2 * w, w)
    dosage = etype == "dosage"
    for k, c in enumerate(_DOSAGE_COLUMNS):
        values[k, dosage] = v[c].to_numpy()[rows][dosage]
    return values


def _positions_usable(scoring: ScoringFile, data: GenotypeData, source: str) -> bool:
    """False where the genotypes' build is known and is not that of the file's positions: then
    a chrom:pos match would find another variant, and only rsIDs are matched."""
    theirs = schema.normalize_build(data.build) if data.build else None
    ours = schema.normalize_build(scoring.positions_build)
    if theirs and ours and theirs != ours:
        log.warning(
            "%s: its positions are %s but %s is %s; variants are matched by rsID only (use the scoring file "
            "harmonized to %s for position matching)",
            scoring.path,
            ours,
            source,
            theirs,
            theirs,
        )
        return False
    return True


def _match(
    panel: pd.DataFrame, data: GenotypeData, ambiguous: str, effect_freq: np.ndarray, source: str
) -> AlleleMatch:
    """The allele matcher on the scoring panel, strand unknown (a scoring file does not state it).

    For ``ambiguous="frequency"`` the matcher needs the ALT frequency of the genotype columns;
    it is computed only for the A/T and C/G SNPs the panel finds (a first match that keeps
    them says which), not over the whole genotype matrix.
    """
    if ambiguous != "frequency":
        return match_variants(panel, data.variants, strand="unknown", ambiguous=ambiguous, source=source)
    probe = match_variants(panel, data.variants, strand="unknown", ambiguous="keep", source=source)
    target_freq = np.full(len(data.variants), np.nan)
    cols = probe.cols[probe.palindromic]
    if len(cols):
        target_freq[cols] = alt_frequencies(np.asarray(data.genotypes[:, cols]))
    return match_variants(
        panel,
        data.variants,
        strand="unknown",
        ambiguous="frequency",
        panel_freq=effect_freq,
        target_freq=target_freq,
        source=source,
    )


def _row_reasons(m: AlleleMatch, panel: pd.DataFrame, skip: np.ndarray) -> np.ndarray:
    """Per scoring row: "" matched, "complex", or the matcher's reason.

    The matcher reports its dropped panel rows in panel order (``MatchReport.dropped``): they
    are the rows it did not match, in order, which is checked here by their ids.
    """
    n = len(panel)
    reasons = np.full(n, "", dtype=object)
    matched = np.zeros(n, dtype=bool)
    matched[m.rows] = True
    unmatched = np.flatnonzero(~matched)
    dropped = m.report.dropped
    ids = panel_table(panel)["id"].astype(str).to_numpy()
    if len(dropped) != len(unmatched) or not np.array_equal(dropped["id"].astype(str).to_numpy(), ids[unmatched]):
        raise AssertionError("the allele matcher's dropped variants do not line up with the unmatched rows")
    reasons[unmatched] = dropped["reason"].to_numpy(dtype=object)
    reasons[skip] = "complex"
    return reasons


def _multiallelic_siblings(variants: pd.DataFrame, cols: np.ndarray, flip: np.ndarray) -> dict[int, np.ndarray]:
    """For matched variants that count REF on a row of a split multi-allelic record: all the
    record's rows (same chrom, pos, id and REF, distinct ALTs), by position in ``cols``.

    Such a row's dosage counts its own ALT only (another ALT counts as "not this ALT"), so
    2 - dosage would count the other ALTs as REF; the copies of REF are 2 - the sum of the
    ALT dosages of all the record's rows, which is what plink2 counts on the unsplit record.
    """
    if not flip.any():
        return {}
    key = variants[["chrom", "pos", "id", "ref"]]
    multi = key.duplicated(keep=False).to_numpy()
    out: dict[int, np.ndarray] = {}
    candidates = np.flatnonzero(flip & multi[cols])
    if not len(candidates):
        return out
    groups = key[multi].groupby(["chrom", "pos", "id", "ref"], sort=False).indices
    index = np.flatnonzero(multi)
    for k in candidates:
        row = variants.iloc[cols[k]]
        members = index[groups[(row["chrom"], row["pos"], row["id"], row["ref"])]]
        alts = variants["alt"].to_numpy(dtype=object)[members]
        if len(set(alts)) == len(alts):  # a repeated record is not a split one: left as it is
            out[int(k)] = members
    return out


def _summary(scoring: ScoringFile, r: dict) -> str:
    """One line: what was scored, dropped and imputed."""
    name = scoring.pgs_id or Path(scoring.path).name
    done = [(r["n_indels"], "indels"), (r["n_flipped"], "effect allele = REF")]
    done += [(r["n_strand_flipped"], "strand-flipped")]
    done += [(r["n_ambiguous_kept"], f"A/T or C/G kept ({r['ambiguous']})")]
    types = ", ".join(f"{k:,} {t}" for t, k in r["effect_types"].items() if t != "additive")
    text = f"{name}: {r['n_matched']:,} of {r['n_scoring']:,} variants scored"
    kept = ", ".join(f"{k:,} {what}" for k, what in done if k)
    text += f" ({kept}{'; ' if kept and types else ''}{types})" if kept or types else ""
    labels = {"ambiguous strand": f"A/T or C/G ({r['ambiguous']})", "absent": "not in the genotypes"}
    lost = ", ".join(f"{k:,} {labels.get(reason, reason)}" for reason, k in r["dropped"].items() if k)
    text += f"; left out: {lost}" if lost else ""
    if r["n_missing_calls"]:
        how = {"mean": "imputed by the mean (plink2)", "frequency": "imputed", "none": "left out"}[r["missing"]]
        text += f"; {r['n_missing_calls']:,} missing calls {how}"
    if not r["positions_used"]:
        text += f"; matched by rsID only ({r['positions_build']} positions, {r['genotypes_build']} genotypes)"
    return text


def _imputation_source(from_file: int, from_data: int) -> str:
    if from_file and from_data:
        return "allelefrequency_effect+genotypes"
    if from_file:
        return "allelefrequency_effect"
    return "genotypes" if from_data else "none"


@dataclass
class _WeightedSum:
    """What :func:`_weighted_sum` adds up, over the k variants scored and the n samples."""

    total: np.ndarray  # (n,) the score
    n_missing: np.ndarray  # (n,) missing calls at variants called in someone
    usable: np.ndarray  # (k,) called in some sample
    effect_freq: np.ndarray  # (k,) effect allele frequency among the called samples
    imputed: np.ndarray  # (k,) what a missing call contributes (NaN: nothing imputed)
    n_called: np.ndarray  # (k,) samples called
    from_file: int = 0  # variants imputed from the file's allelefrequency_effect
    from_data: int = 0  # variants imputed from the samples

    @classmethod
    def zeros(cls, n: int, k: int) -> _WeightedSum:
        return cls(
            total=np.zeros(n, dtype=np.float64),
            n_missing=np.zeros(n, dtype=np.int64),
            usable=np.zeros(k, dtype=bool),
            effect_freq=np.full(k, np.nan),
            imputed=np.full(k, np.nan),
            n_called=np.zeros(k, dtype=np.int64),
        )

    def add_block(
        self, sl: slice, g: np.ndarray, flip: np.ndarray, values: np.ndarray, file_freq: np.ndarray, impute: bool
    ) -> None:
        """Add the variants ``sl``: ALT dosages ``g`` (n, b) (-1 missing), and their ``flip``,
        ``values`` (3, b) and ``file_freq`` (b,) as in :func:`_weighted_sum`."""
        missing = g < 0
        e = np.where(flip[None, :], 2 - g, g)  # copies of the effect allele (garbage where missing)
        n_called = (~missing).sum(axis=0)
        # A variant nobody is called at tells nothing about these samples: it is left out.
        has_call = n_called > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            p_data = np.where(missing, 0, e).sum(axis=0) / (2.0 * n_called)
        p = np.where(np.isfinite(file_freq), file_freq, p_data)
        v0, v1, v2 = values[0], values[1], values[2]
        fill = np.where(has_call, v0 + (v2 - v0) * p, 0.0) if impute else np.zeros(e.shape[1])
        x = np.where(e == 0, v0, np.where(e == 1, v1, v2))
        x = np.where(missing, fill[None, :], x)
        x[:, ~has_call] = 0.0
        self.total += x.sum(axis=1)
        imputes = missing.any(axis=0) & has_call
        if impute:
            self.from_file += int((imputes & np.isfinite(file_freq)).sum())
            self.from_data += int((imputes & ~np.isfinite(file_freq)).sum())
            self.imputed[sl] = np.where(imputes, fill, np.nan)
        self.n_missing += missing[:, has_call].sum(axis=1)
        self.usable[sl] = has_call
        self.effect_freq[sl] = np.where(has_call, p_data, np.nan)
        self.n_called[sl] = n_called


def _weighted_sum(
    genotypes: np.ndarray,
    cols: np.ndarray,
    flip: np.ndarray,
    values: np.ndarray,
    file_freq: np.ndarray,
    siblings: dict[int, np.ndarray],
    impute: bool,
) -> _WeightedSum:
    """Sum over ``cols`` of ``genotypes`` (n, m) int8 (-1 missing) of each variant's contribution.

    ``flip`` counts REF (2 - ALT dosage; for ``siblings`` 2 - the sum of the record's ALT
    dosages) instead of ALT; ``values`` (3, k): what 0, 1, 2 copies of the effect allele
    contribute. A missing call contributes ``values[0] + (values[2] - values[0]) x p``, p the
    effect allele frequency (``file_freq`` where finite, else the called samples'), or nothing
    without ``impute``. Columns are read in blocks so that only a block is ever float.
    """
    n = genotypes.shape[0]
    k = len(cols)
    sums = _WeightedSum.zeros(n, k)
    step = max(1, _BLOCK_ELEMENTS // max(n, 1))
    for start in range(0, k, step):
        sl = slice(start, min(start + step, k))
        g = _block_dosages(genotypes, cols, sl, siblings)
        sums.add_block(sl, g, flip[sl], values[:, sl], file_freq[sl], impute)
    assert sums.total.shape == (n,)
    return sums


def _block_dosages(genotypes: np.ndarray, cols: np.ndarray, sl: slice, siblings: dict[int, np.ndarray]) -> np.ndarray:
    """ALT dosages (int16, -1 missing) of the variants ``sl``; for a split multi-allelic record
    counted on REF, the sum of its rows' ALT dosages (2 - that is the copies of REF)."""
    g = np.asarray(genotypes[:, cols[sl]]).astype(np.int16)
    for j, members in siblings.items():
        if sl.start <= j < sl.stop:
            alts = np.asarray(genotypes[:, members]).astype(np.int16)
            called = (alts >= 0).all(axis=1)
            g[:, j - sl.start] = np.where(called, np.clip(alts.sum(axis=1), 0, 2), -1)
    return g
