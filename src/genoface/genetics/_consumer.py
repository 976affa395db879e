"""Direct-to-consumer raw genotype files (23andMe, AncestryDNA) and matching them to a panel.

These files hold one person's calls as allele letters, with no REF/ALT: they become ALT dosages
only against a panel that names REF and ALT per variant (a model's SNP list, a cohort's variant
table). Both companies report alleles on the forward (+) strand of GRCh37; panels built on
another strand convention are handled by complementing alleles where that makes them match.

23andMe::

    # rsid  chromosome  position  genotype          (comment lines start with '#')
    rs4477212   1   82154   AA                      ("--" missing; one letter on X/Y/MT for men)

AncestryDNA::

    rsid  chromosome  position  allele1  allele2    (a header line after the '#' comments)
    rs4477212   1   82154   A   A                   (0 = missing; chromosome 23 = X, 24 = Y,
                                                     25 = X pseudo-autosomal, 26 = MT)
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from genoface.errors import GenofaceError
from genoface.io.genotypes import GenotypeData

log = logging.getLogger(__name__)

_CHROMS_23ANDME = {str(i): str(i) for i in range(1, 23)} | {"X": "X", "Y": "Y", "MT": "MT", "XY": "XY"}
_CHROMS_ANCESTRY = {str(i): str(i) for i in range(1, 23)} | {"23": "X", "24": "Y", "25": "XY", "26": "MT"}
_ALLELES = frozenset("ACGTDI")  # D / I: deletion / insertion calls of indel probes
_COMPLEMENT = {"A": "T", "T": "A", "C": "G", "G": "C"}
#: How A/T and C/G panel SNPs are resolved (see :func:`match_to_panel`).
AMBIGUOUS_MODES = ("consistent", "forward", "missing")


@dataclass
class ConsumerGenotypes:
    """The calls of one person from a consumer raw-data file, in file order.

    Attributes
    ----------
    sample_id : the file name without its extensions.
    rsid, chrom, pos : (m,) variant id as written, chromosome ("1".."22", "X", "Y", "XY", "MT";
        AncestryDNA's numbers translated), position (int64, GRCh37 as the companies write it).
    allele1, allele2 : (m,) str; "" where the call is missing; ``allele2`` is "" for a haploid
        call (one allele: men on X / Y / MT in 23andMe files).
    source : "23andme" or "ancestrydna"; path : the file read.
    """

    sample_id: str
    rsid: np.ndarray
    chrom: np.ndarray
    pos: np.ndarray
    allele1: np.ndarray
    allele2: np.ndarray
    source: str
    path: str = ""

    @property
    def n_calls(self) -> int:
        return len(self.rsid)

    @property
    def missing(self) -> np.ndarray:
        return self.allele1 == ""


def read_consumer_file(path: str | os.PathLike) -> ConsumerGenotypes:
    """Parse a 23andMe or AncestryDNA raw-data text file (format detected from its columns).

    Every malformed line is refused with a :class:`GenofaceError` that names the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise GenofaceError(f"{path}: no such file; give a 23andMe or AncestryDNA raw-data text file")
    rsid: list[str] = []
    chrom: list[str] = []
    pos: list[int] = []
    a1: list[str] = []
    a2: list[str] = []
    source = None
    try:
        fh = open(path, encoding="utf-8", errors="strict")
        with fh:
            for lineno, raw in enumerate(fh, start=1):
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                fields = line.split()
                if source is None:
                    if fields[0].lower() == "rsid":  # AncestryDNA's header line
                        if len(fields) != 5:
                            raise GenofaceError(
                                f"{path}, line {lineno}: header has {len(fields)} columns; "
                                "expected rsid chromosome position allele1 allele2"
                            )
                        source = "ancestrydna"
                        continue
                    if len(fields) == 4:
                        source = "23andme"
                    elif len(fields) == 5:
                        source = "ancestrydna"
                    else:
                        raise GenofaceError(
                            f"{path}, line {lineno}: {len(fields)} columns; a 23andMe file has 4 "
                            "(rsid chromosome position genotype), an AncestryDNA file 5"
                        )
                _parse_line(fields, source, path, lineno, rsid, chrom, pos, a1, a2)
    except UnicodeDecodeError:
        raise GenofaceError(f"{path}: not a text file; give the unzipped raw-data .txt file") from None
    if source is None or not rsid:
        raise GenofaceError(f"{path}: no genotype lines; is this a 23andMe or AncestryDNA raw-data file?")
    name = path.name
    for ext in (".gz", ".txt", ".csv", ".tsv"):
        name = name.removesuffix(ext)
    return ConsumerGenotypes(
        sample_id=name,
        rsid=np.asarray(rsid, dtype=str),
        chrom=np.asarray(chrom, dtype=str),
        pos=np.asarray(pos, dtype=np.int64),
        allele1=np.asarray(a1, dtype=str),
        allele2=np.asarray(a2, dtype=str),
        source=source,
        path=str(path),
    )


def _parse_line(fields, source, path, lineno, rsid, chrom, pos, a1, a2) -> None:
    expected = 4 if source == "23andme" else 5
    if len(fields) != expected:
        raise GenofaceError(
            f"{path}, line {lineno}: {len(fields)} columns where this {source} file has {expected}; fix or remove the line"
        )
    chroms = _CHROMS_23ANDME if source == "23andme" else _CHROMS_ANCESTRY
    c = chroms.get(fields[1].upper().removeprefix("CHR"))
    if c is None:
        raise GenofaceError(f"{path}, line {lineno}: unknown chromosome {fields[1]!r}")
    try:
        p = int(fields[2])
    except ValueError:
        raise GenofaceError(f"{path}, line {lineno}: position {fields[2]!r} is not an integer") from None
    if p < 0:
        raise GenofaceError(f"{path}, line {lineno}: negative position {p}")
    if source == "23andme":
        gt = fields[3].upper()
        if gt in ("--", "-", "00", "0"):
            x, y = "", ""
        elif len(gt) == 2 and gt[0] in _ALLELES and gt[1] in _ALLELES:
            x, y = gt[0], gt[1]
        elif len(gt) == 1 and gt in _ALLELES:
            x, y = gt, ""
        else:
            raise GenofaceError(
                f"{path}, line {lineno}: genotype {fields[3]!r} is not two alleles of A/C/G/T/D/I or '--'"
            )
    else:
        x, y = fields[3].upper(), fields[4].upper()
        if x == "0" or y == "0" or x == "-" or y == "-":
            x, y = "", ""
        elif x not in _ALLELES or y not in _ALLELES:
            raise GenofaceError(f"{path}, line {lineno}: alleles {fields[3]!r} {fields[4]!r} are not A/C/G/T/D/I or 0")
    rsid.append(fields[0])
    chrom.append(c)
    pos.append(p)
    a1.append(x)
    a2.append(y)


def match_to_panel(
    consumer: ConsumerGenotypes | str | os.PathLike,
    panel_variants: pd.DataFrame,
    *,
    ambiguous: str = "consistent",
) -> tuple[np.ndarray, dict]:
    """ALT dosages of one person at the panel's variants, and a report of how the match went.

    Parameters
    ----------
    consumer : parsed calls, or the path of a raw-data file.
    panel_variants : table with columns id, ref, alt (chrom and pos optional). A panel variant
        is found by its id (the rsID); one whose id is not in the file is also looked up by
        ``chrom:pos`` when the panel has chrom and pos.
    ambiguous : how A/T and C/G SNPs, whose strand cannot be told from the alleles, are read:
        "consistent" (default) keeps a call only when both strand readings give the same
        dosage (heterozygotes); "forward" trusts the file's strand (both companies report the
        GRCh37 forward strand, right when the panel does too); "missing" drops them all.

    Returns ``(dosage, report)``: dosage is (len(panel_variants),) int8, ALT dosage 0/1/2 and
    -1 where the variant is absent, the call missing, or the alleles cannot be matched; a
    haploid call (men on X) is hemizygous, 0 or 2. Non-ambiguous SNPs whose alleles match only
    after complementing (other strand) are complemented. ``report`` counts: n_panel, n_found,
    n_missing_calls, n_strand_flipped, n_allele_mismatch (alleles that fit neither strand,
    left missing), n_ambiguous, n_ambiguous_unresolved, n_called (dosage set).
    """
    if ambiguous not in AMBIGUOUS_MODES:
        raise GenofaceError(f"ambiguous must be one of {AMBIGUOUS_MODES}, got {ambiguous!r}")
    if not isinstance(consumer, ConsumerGenotypes):
        consumer = read_consumer_file(consumer)
    missing_cols = [c for c in ("id", "ref", "alt") if c not in panel_variants.columns]
    if missing_cols:
        raise GenofaceError(f"panel_variants lacks columns {missing_cols}; it needs id, ref and alt")
    ids = panel_variants["id"].astype(str).to_numpy()
    ref = panel_variants["ref"].astype(str).str.upper().to_numpy()
    alt = panel_variants["alt"].astype(str).str.upper().to_numpy()

    row = _first_index(consumer.rsid, ids)
    if {"chrom", "pos"} <= set(panel_variants.columns) and (row < 0).any():
        keys = np.char.add(np.char.add(consumer.chrom, ":"), consumer.pos.astype(str))
        pchrom = panel_variants["chrom"].astype(str).str.upper().str.removeprefix("CHR")
        pchrom = pchrom.replace({"23": "X", "24": "Y", "25": "XY", "26": "MT", "M": "MT"})
        pkeys = (pchrom + ":" + panel_variants["pos"].astype(np.int64).astype(str)).to_numpy()
        by_pos = _first_index(keys, pkeys)
        row = np.where(row >= 0, row, by_pos)

    n_panel = len(ids)
    dosage = np.full(n_panel, -1, dtype=np.int8)
    report = dict.fromkeys(
        (
            "n_found",
            "n_missing_calls",
            "n_strand_flipped",
            "n_allele_mismatch",
            "n_ambiguous",
            "n_ambiguous_unresolved",
            "n_called",
        ),
        0,
    )
    report = {"n_panel": n_panel} | report
    for i in np.flatnonzero(row >= 0):
        report["n_found"] += 1
        j = row[i]
        x, y = consumer.allele1[j], consumer.allele2[j]
        if x == "":
            report["n_missing_calls"] += 1
            continue
        alleles = (x,) if y == "" else (x, y)
        r, a = ref[i], alt[i]
        pair = {r, a}
        is_ambiguous = _COMPLEMENT.get(r) == a
        direct = _dosage(alleles, a) if set(alleles) <= pair else None
        comp = tuple(_COMPLEMENT.get(v, "?") for v in alleles)
        flipped = _dosage(comp, a) if set(comp) <= pair else None
        if is_ambiguous:
            report["n_ambiguous"] += 1
            if ambiguous == "forward" and direct is not None:
                d = direct
            elif ambiguous == "consistent" and direct is not None and direct == flipped:
                d = direct
            else:
                report["n_ambiguous_unresolved"] += 1
                continue
        elif direct is not None:
            d = direct
        elif flipped is not None:
            d = flipped
            report["n_strand_flipped"] += 1
        else:
            report["n_allele_mismatch"] += 1
            continue
        dosage[i] = d
        report["n_called"] += 1
    return dosage, report


def _first_index(keys: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Position of each query in ``keys`` (its first occurrence), -1 where absent."""
    s = pd.Series(np.arange(len(keys)), index=pd.Index(keys))
    s = s[~s.index.duplicated()]
    return s.reindex(pd.Index(query)).fillna(-1).to_numpy(dtype=np.int64)


def _dosage(alleles: tuple[str, ...], alt: str) -> int:
    """ALT count of a diploid call; a haploid call is hemizygous (0 or 2)."""
    count = sum(v == alt for v in alleles)
    return 2 * count if len(alleles) == 1 else count


def read_consumer_genotypes(
    path: str | os.PathLike, panel_variants: pd.DataFrame, *, ambiguous: str = "consistent"
) -> GenotypeData:
    """A 23andMe / AncestryDNA raw-data file as a one-sample :class:`GenotypeData` over the
    panel's variants (their chrom, pos, id, ref, alt), -1 where not called or not matched.

    The files carry no REF/ALT, so a panel is required; the match report is logged (use
    :func:`consumer_genotype_data` to get it).
    """
    data, report = consumer_genotype_data(path, panel_variants, ambiguous=ambiguous)
    log.info("%s: %s", path, report)
    return data


def consumer_genotype_data(
    path: str | os.PathLike, panel_variants: pd.DataFrame, *, ambiguous: str = "consistent"
) -> tuple[GenotypeData, dict]:
    """:func:`read_consumer_genotypes` and the match report of :func:`match_to_panel`."""
    calls = read_consumer_file(path)
    dosage, report = match_to_panel(calls, panel_variants, ambiguous=ambiguous)
    if report["n_found"] == 0:
        raise GenofaceError(
            f"{path}: none of the panel's {report['n_panel']} variants is in the file; are the panel ids rsIDs?"
        )
    variants = panel_variants
    if not {"chrom", "pos"} <= set(panel_variants.columns):
        j = _first_index(calls.rsid, panel_variants["id"].astype(str).to_numpy())
        variants = panel_variants.assign(
            chrom=np.where(j >= 0, calls.chrom[j], ""), pos=np.where(j >= 0, calls.pos[j], 0)
        )
    return GenotypeData(np.array([calls.sample_id]), dosage[None, :], variants), report
