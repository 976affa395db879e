"""Genotype files to and from dosage matrices: VCF / BCF (cyvcf2) and PLINK 1 bed (bed-reader).

In memory a genotype matrix is (samples, variants) int8: the dosage of the ALT allele 0/1/2,
-1 missing (DESIGN "Genotype coding"). Haploid calls (males on X, written ``0`` / ``1``) are
hemizygous and become 0 / 2.

Chromosome names are normalised once, here on reading, by :mod:`genoface.core.schema`: ``chr1``
-> ``1``, ``chrX`` / ``23`` -> ``X``, ``24`` -> ``Y``, ``XY`` / ``25`` / ``PAR`` -> ``XY``, ``M``
/ ``26`` -> ``MT``. Where the genome build is known (``build=``, or a VCF header that names it),
X positions inside that build's pseudo-autosomal regions become ``XY``: diploid in men, never
hemizygous. Without a build X stays X (a simulated X has no PARs).

Which variants are kept. By default only biallelic SNPs; other records are skipped with one
warning that gives their count. With ``snps_only=False`` (polygenic scores, scored as
``plink2 --score`` does) indels are kept too, and a VCF record with k ALT alleles becomes k
biallelic rows with the same chrom / pos / id and ref = REF, alt = that ALT; each row's dosage
counts copies of its own ALT allele, and any other allele (REF or another ALT) counts as "not
this ALT", i.e. 0 copies: a ``1/2`` call is 1 copy of ALT 1 and 1 copy of ALT 2. Symbolic ALT
alleles (``<DEL>``, ``*``, breakends, ``.``) have no sequence to match a score allele against and
are skipped and counted.

PLINK alleles. Allele 1 (.bim column 5) is the counted allele: ``alt`` = allele 1, ``ref`` =
allele 2, and bed dosages count allele 1 (bed-reader ``count_A1=True``). That reads every .bed
the same way whatever wrote it: genoface and plink2 put ALT in allele 1, plink 1.9 puts the
minor allele there. Which allele is the reference allele of the genome cannot be known from a
.bim; the allele matcher (DESIGN "Alleles") resolves exchanged alleles against a model's panel.

Writing. :func:`write_vcf` writes BGZF (what ``bgzip`` writes) with its tabix index beside it,
so ``bcftools index`` / ``bcftools view -r`` / ``tabix`` work on it; :func:`write_plink` writes
PLINK 1 with ALT as allele 1.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import tempfile
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genoface.core import schema
from genoface.core.errors import GenofaceError
from genoface.core.files import atomic_stream
from genoface.core.schema import MISSING, VARIANT_COLUMNS
from genoface.io._bgzf import BGZF_EOF, TBI_MAX_POS, BgzfWriter, write_tabix_index

log = logging.getLogger(__name__)


_BASES = frozenset("ACGTN")
_SEQUENCE = re.compile(r"[ACGTNacgtn]+").fullmatch  # an allele spelled in bases (not symbolic)
_READ_CHUNK = 1024  # variants decoded per vectorized step when reading
_WRITE_BYTES = 1 << 24  # about this much VCF text per chunk when writing
# What is wrong with a VCF record ({place}: which record; see _VcfRows.error).
_NOT_TEXT = "the record at {place} holds bytes that are not text (UTF-8); fix that line"
_NO_PLACE = "the record at {place} has no chromosome or position; fix that line"
_NO_GT = "no GT field at {place}; genoface reads GT only"
_PLOIDY = "ploidy {ploidy} at {place}; only haploid and diploid calls are supported"


@dataclass
class GenotypeData:
    """Genotypes of ``n`` samples at ``m`` variants.

    Attributes
    ----------
    sample_ids : (n,) str, in file order.
    genotypes : (n, m) int8, ALT dosage 0/1/2, -1 missing.
    variants : DataFrame with columns chrom (str), pos (int64), id (str), ref (str), alt (str)
        and a RangeIndex; ``id`` is the rsID where the file has one, else ``chrom:pos``.
    sex : (n,) str "M" / "F" / "" (unknown) where the file records it (PLINK .fam), else None.
    build : the genome build ("GRCh37" / "GRCh38") the positions refer to where known (given to
        :func:`read_genotypes` or named by the VCF header), else None.
    """

    sample_ids: np.ndarray
    genotypes: np.ndarray
    variants: pd.DataFrame
    sex: np.ndarray | None = None
    build: str | None = None

    def __post_init__(self) -> None:
        self.sample_ids = np.asarray(self.sample_ids, dtype=str)
        self.genotypes = np.asarray(self.genotypes, dtype=np.int8)
        self.variants = variant_table(self.variants)
        if self.genotypes.shape != (len(self.sample_ids), len(self.variants)):
            raise GenofaceError(
                f"genotypes have shape {self.genotypes.shape} but there are {len(self.sample_ids)} "
                f"samples and {len(self.variants)} variants"
            )
        if self.sex is not None:
            self.sex = np.asarray(self.sex, dtype=str)

    @property
    def n_samples(self) -> int:
        return len(self.sample_ids)

    def take(self, rows: Sequence[int] | np.ndarray) -> GenotypeData:
        """The samples at positions ``rows``, in that order (a copy of their genotypes)."""
        rows = np.asarray(rows, dtype=np.int64)
        return GenotypeData(
            sample_ids=self.sample_ids[rows],
            genotypes=np.asarray(self.genotypes[rows]),
            variants=self.variants,
            sex=None if self.sex is None else self.sex[rows],
            build=self.build,
        )

    @property
    def n_variants(self) -> int:
        return len(self.variants)

    def biallelic_snps(self) -> GenotypeData:
        """The variants a ``snps_only`` read keeps (itself when that is all of them): single-base
        REF and ALT from records with one ALT (the rows of a split multi-allelic record share
        chrom, pos and id)."""
        v = self.variants
        snp = np.array([_is_snp(r, a) for r, a in zip(v["ref"], v["alt"], strict=True)], dtype=bool)
        keep = snp & ~v.duplicated(["chrom", "pos", "id"], keep=False).to_numpy()
        if keep.all():
            return self
        cols = np.flatnonzero(keep)
        return GenotypeData(self.sample_ids, self.genotypes[:, cols], v.iloc[cols], sex=self.sex, build=self.build)


def variant_table(variants: pd.DataFrame | dict) -> pd.DataFrame:
    """The variant columns with their canonical dtypes and a RangeIndex (extra columns dropped)."""
    df = pd.DataFrame(variants) if not isinstance(variants, pd.DataFrame) else variants
    missing = [c for c in VARIANT_COLUMNS if c not in df.columns]
    if missing:
        raise GenofaceError(f"variant table lacks columns {missing}; it needs {list(VARIANT_COLUMNS)}")
    out = pd.DataFrame(
        {
            "chrom": np.asarray(df["chrom"]).astype(str),
            "pos": np.asarray(df["pos"]).astype(np.int64),
            "id": np.asarray(df["id"]).astype(str),
            "ref": np.asarray(df["ref"]).astype(str),
            "alt": np.asarray(df["alt"]).astype(str),
        }
    )
    return out


# ---- reading --------------------------------------------------------------------------------------


def read_genotypes(path: str | os.PathLike, *, snps_only: bool = True, build: str | None = None) -> GenotypeData:
    """Read a VCF / VCF.gz / BCF (GT field) or a PLINK 1 fileset (``x.bed`` or the prefix ``x``).

    Parameters
    ----------
    snps_only : keep only biallelic SNPs (the default). False keeps indels and splits a
        multi-allelic VCF record into one biallelic row per ALT allele (module notes).
    build : genome build of the positions, "GRCh37" or "GRCh38" (hg19, b37, hg38 ... accepted).
        Where known, given here or named by the VCF header, X SNPs in the pseudo-autosomal
        regions become chromosome "XY". Given, it wins over the header.
    """
    path = Path(path)
    wanted = _wanted_build(path, build)
    if path.suffix == ".bed" or (not path.exists() and Path(f"{path}.bed").exists()):
        return _read_plink(path, snps_only, wanted)
    if not path.exists():
        raise GenofaceError(f"{path}: no such file; give a VCF (.vcf, .vcf.gz, .bcf) or a PLINK .bed")
    if path.is_dir():
        raise GenofaceError(f"{path} is a directory; give a VCF (.vcf, .vcf.gz, .bcf) or a PLINK .bed")
    return _read_vcf(path, snps_only, wanted)


def _wanted_build(path: Path, build: str | None) -> str | None:
    """``build`` by its canonical name (None stays None); an unknown one is an error."""
    if build is None:
        return None
    wanted = schema.normalize_build(build)
    if wanted is None:
        raise GenofaceError(f"{path}: unknown genome build {build!r}; give GRCh37 (hg19, b37), GRCh38 (hg38) or None")
    return wanted


def _is_snp(ref: str, alt: str) -> bool:
    return len(ref) == 1 and len(alt) == 1 and ref.upper() in _BASES and alt.upper() in _BASES and ref != alt


def _check_bgzf_complete(path: Path) -> None:
    """Refuse a BGZF file (VCF.gz, BCF) that lacks its end-of-file block: it was cut short.
    (htslib only warns then, so a file cut at a block boundary would read as a shorter one.)"""
    with open(path, "rb") as fh:
        head = fh.read(18)
        if len(head) < 18 or head[:4] != b"\x1f\x8b\x08\x04" or head[12:14] != b"BC":
            return  # plain gzip or text: htslib reports a truncated stream itself
        fh.seek(0, os.SEEK_END)
        if fh.tell() < len(BGZF_EOF):
            raise GenofaceError(f"{path}: truncated BGZF file; copy or download it again")
        fh.seek(-len(BGZF_EOF), os.SEEK_END)
        if fh.read() != BGZF_EOF:
            raise GenofaceError(
                f"{path}: the BGZF end-of-file marker is missing, so the file is truncated; "
                "copy it again (or re-compress it with `bgzip` if another tool wrote it without one)"
            )


def _text_header(path: Path) -> tuple[int, list[str]] | None:
    """(number of header lines, sample names) of a text VCF (plain, gzip or BGZF); None if unreadable.

    Counted here rather than from cyvcf2's header, to which htslib adds lines (##FILTER=PASS).
    """
    try:
        with open(path, "rb") as fh:
            opener = gzip.open if fh.read(2) == b"\x1f\x8b" else open
        with opener(path, "rt", errors="replace") as text:
            for n_lines, line in enumerate(text, start=1):
                if line.startswith("#CHROM"):
                    return n_lines, line.rstrip("\r\n").split("\t")[9:]
                if not line.startswith("#"):
                    return None
    except (OSError, EOFError, UnicodeError, zlib.error):
        return None
    return None


_CONTIG_ID = re.compile(r"[<,]ID=([^,>]+)")
_CONTIG_LENGTH = re.compile(r"[<,]length=(\d+)")


def _header_build(header: str, path: Path) -> str | None:
    """The genome build a VCF header states, else None.

    From ``##reference=`` / ``##assembly=`` naming GRCh37 / hg19 / b37 / GRCh38 / hg38, or from
    the length of X in a ``##contig`` line (exact, so it wins when the two disagree).
    """
    by_name = by_length = None
    lengths = {v: k for k, v in schema.X_LENGTH.items()}
    for line in header.splitlines():
        if line.startswith(("##reference=", "##assembly=")):
            by_name = by_name or schema.normalize_build(line.split("=", 1)[1])
        elif line.startswith("##contig=<") and by_length is None:
            cid, length = _CONTIG_ID.search(line), _CONTIG_LENGTH.search(line)
            if cid and length and schema.normalize_chrom(cid.group(1)) == schema.X:
                by_length = lengths.get(int(length.group(1)))
    if by_name and by_length and by_name != by_length:
        log.warning(
            "%s: the header names build %s but its X contig has the length of %s; using %s",
            path, by_name, by_length, by_length,
        )  # fmt: skip
    return by_length or by_name


def _duplicates(ids: Sequence[str]) -> list[str]:
    s = pd.Series(ids)
    return list(dict.fromkeys(s[s.duplicated()]))


def _read_vcf(path: Path, snps_only: bool, build: str | None) -> GenotypeData:
    samples, genotypes, columns, build = _parse_vcf(path, snps_only, build)
    return _genotype_data(path, samples, genotypes, columns, build)


def _parse_vcf(
    path: Path, snps_only: bool, build: str | None, spill: Any = None
) -> tuple[np.ndarray, np.ndarray | None, dict[str, list], str | None]:
    """(sample ids, (n, m) int8 dosages or None when written to ``spill``, variant columns, the
    build: given, else as the header names it)."""
    import cyvcf2  # imported here: importing htslib costs time the PLINK path does not need

    _check_bgzf_complete(path)
    try:
        # strict_gt: a half-missing call such as "./1" is missing, not heterozygous (as in PLINK).
        vcf = cyvcf2.VCF(str(path), gts012=True, strict_gt=True)
    except Exception as e:  # cyvcf2 raises bare Exception / OSError with htslib's reason
        if "header" in str(e):
            dups = _duplicates((_text_header(path) or (0, []))[1])
            if dups:
                raise GenofaceError(
                    f"{path}: duplicate sample ids in the #CHROM line: {_some(dups)}; make sample ids unique"
                ) from None
        raise GenofaceError(
            f"{path}: not a readable VCF/BCF ({e}); check the file format and that it is complete"
        ) from None
    try:
        stated = _header_build(vcf.raw_header, path)
        if build and stated and build != stated:
            log.warning("%s: the header says build %s but %s was given; using %s", path, stated, build, build)
        samples, genotypes, columns = _decode_vcf(vcf, path, snps_only, spill)
    finally:
        vcf.close()
    return samples, genotypes, columns, build or stated


def _decode_vcf(vcf, path: Path, snps_only: bool, spill: Any) -> tuple[np.ndarray, np.ndarray | None, dict[str, list]]:
    """(sample ids, (n, m) int8 dosages or None (spilled), variant columns with raw chromosome
    names and "" for no id)."""
    samples = _vcf_samples(vcf, path)
    rows = _VcfRows(path, snps_only, _text_header(path), len(samples), spill=spill)
    _read_records(vcf, rows)
    genotypes = rows.finish()
    return (
        samples,
        genotypes,
        {"chrom": rows.chrom, "pos": rows.pos, "id": rows.ids, "ref": rows.refs, "alt": rows.alts},
    )


def _vcf_samples(vcf, path: Path) -> np.ndarray:
    """The sample ids of the #CHROM line: text, at least one, unique."""
    try:
        samples = np.asarray(vcf.samples, dtype=str)
    except UnicodeDecodeError:
        raise GenofaceError(
            f"{path}: the sample names in the #CHROM line are not text (UTF-8); fix that line"
        ) from None
    if len(samples) == 0:
        raise GenofaceError(f"{path}: the VCF has no sample columns; genotypes of at least one sample are needed")
    dups = _duplicates(list(samples))
    if dups:
        raise GenofaceError(f"{path}: duplicate sample ids {_some(dups)}; make sample ids unique")
    return samples


def _read_records(vcf, rows: _VcfRows) -> None:
    """Add each record of ``vcf`` to ``rows``: a loop once per record, so its state is in locals."""
    snps_only, buf, target, n_alt, record = rows.snps_only, rows.buf, rows.target, rows.n_alt, rows.record
    chrom, pos, ids, refs, alts = rows.chrom, rows.pos, rows.ids, rows.refs, rows.alts
    k = n_records = skipped = skipped_alleles = 0  # k: rows in the chunk buffers
    it = iter(vcf)
    while True:
        try:
            rec = next(it)
        except StopIteration:
            break
        except Exception as e:
            raise rows.unparsable(e, n_records) from None
        try:
            alt = rec.ALT
            if not alt:  # no ALT allele, or an empty line: cyvcf2 crashes reading the REF of that
                skipped += 1
                n_records += 1
                continue
            ref, c, p, i = rec.REF, rec.CHROM, rec.POS, rec.ID or ""
        except UnicodeDecodeError:
            raise rows.error(n_records, _NOT_TEXT) from None
        if not c or p < 1:  # htslib reads on after such a record and can crash on the next one: stop here
            raise rows.error(n_records, _NO_PLACE)
        kept = _kept_alleles(ref, alt, snps_only)
        if not kept:
            skipped += 1
            n_records += 1
            continue
        skipped_alleles += len(alt) - len(kept)  # with snps_only: one ALT, one row kept
        try:
            gt = rec.genotype.array()  # (n, ploidy + 1) int16: alleles then the phased flag
        except Exception:
            raise rows.error(n_records, _NO_GT) from None
        diploid = gt.shape[1] == 3
        if not diploid and gt.shape[1] != 2:
            raise rows.error(n_records, _PLOIDY, ploidy=gt.shape[1] - 1)
        for a, s in kept:
            if diploid:
                buf[k] = gt[:, :2]
            else:
                buf[k, :, 0] = gt[:, 0]
                buf[k, :, 1] = -2
            if not snps_only:
                target[k] = a
                n_alt[k] = len(alt)
            record[k] = n_records
            chrom.append(c)
            pos.append(p)
            ids.append(i)
            refs.append(ref)
            alts.append(s)
            k += 1
            if k == _READ_CHUNK:
                rows.flush(k)
                k = 0
        n_records += 1
    if k:
        rows.flush(k)
    rows.n_records, rows.skipped, rows.skipped_alleles = n_records, skipped, skipped_alleles


def _kept_alleles(ref: str, alt: list[str], snps_only: bool) -> Sequence[tuple[int, str]]:
    """(ALT index, ALT allele) of the rows a record gives: its one ALT of a biallelic SNP
    (``snps_only``), else each ALT spelled in bases other than REF; empty: the record is skipped."""
    if snps_only:
        return ((1, alt[0]),) if len(alt) == 1 and _is_snp(ref, alt[0]) else ()
    if not _SEQUENCE(ref):
        return ()
    return [(a, s) for a, s in enumerate(alt, start=1) if _SEQUENCE(s) and s.upper() != ref.upper()]


@dataclass
class _VcfRows:
    """The rows of a VCF read so far: variant columns, finished (k, n) int8 dosage blocks
    (variant-major), buffers of the chunk of rows to decode next in one vectorized step, and
    counts of what was skipped, for the messages."""

    path: Path
    snps_only: bool
    header: tuple[int, list[str]] | None  # None for BCF: there only record numbers can be given
    n: int  # samples
    chrom: list[str] = field(default_factory=list)
    pos: list[int] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)
    alts: list[str] = field(default_factory=list)
    blocks: list[np.ndarray] = field(default_factory=list)
    spill: Any = None  # a binary file: decoded blocks go there (variant-major int8 rows), not to ``blocks``
    n_records: int = 0  # these three set by _read_records once every record is read
    skipped: int = 0  # records without a row
    skipped_alleles: int = 0  # symbolic ALT alleles of records that do have rows

    def __post_init__(self) -> None:
        self.buf = np.empty((_READ_CHUNK, self.n, 2), dtype=np.int16)  # alleles (a0, a1); a1 = -2: haploid
        self.target = np.ones(_READ_CHUNK, dtype=np.int16)  # the ALT allele index each row counts
        self.n_alt = np.ones(_READ_CHUNK, dtype=np.int16)  # ALT alleles its record lists: higher indices are errors
        self.record = np.empty(_READ_CHUNK, dtype=np.int64)  # record number (0-based) of each row, for errors

    def where(self, rec_no: int) -> str:
        """Record ``rec_no``'s place for a message: its line in a text VCF, else its record number."""
        return f"line {self.header[0] + rec_no + 1}" if self.header else f"record {rec_no + 1}"

    def error(self, rec_no: int, message: str, **values) -> GenofaceError:
        """The error for record ``rec_no``: ``message`` formatted with ``values`` and the record's
        place (``{place}``)."""
        return GenofaceError(f"{self.path}: " + message.format(place=self.where(rec_no), **values))

    def unparsable(self, e: Exception, rec_no: int) -> GenofaceError:
        """The error for record ``rec_no``, which htslib cannot parse (its reason ``e`` logged)."""
        log.debug("cyvcf2: %s", e)
        after = f" (after {self.chrom[-1]}:{self.pos[-1]})" if self.chrom else ""
        return GenofaceError(
            f"{self.path}: cannot parse the record at {self.where(rec_no)}{after}: wrong number of columns, a bad "
            "field or a file cut short (htslib's reason is on stderr); fix that line or re-export the file"
        )

    def flush(self, k: int) -> None:
        """Decode the ``k`` rows in the chunk buffers into one dosage block."""

        def locate(j: int) -> str:
            row = len(self.chrom) - k + j
            return f"{self.where(int(self.record[j]))} ({self.chrom[row]}:{self.pos[row]})"

        block = _alleles_to_dosage(self.buf[:k], self.target[:k], self.n_alt[:k], self.path, locate)
        if self.spill is None:
            self.blocks.append(block)
        else:
            self.spill.write(np.ascontiguousarray(block).tobytes())
        if not self.snps_only:
            self.target[:k] = 1
            self.n_alt[:k] = 1

    def finish(self) -> np.ndarray | None:
        """The (n, m) int8 dosages of all rows (None when they were spilled), once every record
        is read; the skipped records are counted in one warning, and a file without a row is refused."""
        kind = "biallelic SNPs" if self.snps_only else "variants with sequence alleles"
        if self.skipped or self.skipped_alleles:
            also = (
                f" and {self.skipped_alleles} symbolic ALT alleles (<...>, *) of other records"
                if self.skipped_alleles
                else ""
            )
            log.warning("%s: skipped %d records that are not %s%s", self.path, self.skipped, kind, also)
        if not self.chrom:
            raise GenofaceError(
                f"{self.path}: no {kind} ({self.n_records} records, {self.skipped} skipped); "
                "genoface needs SNP genotypes"
            )
        return None if self.spill is not None else _stack_transposed(self.blocks, self.n, len(self.chrom))


def _alleles_to_dosage(
    alleles: np.ndarray, target: np.ndarray, n_alt: np.ndarray, path: Path, locate: Callable[[int], str]
) -> np.ndarray:
    """(k, n, 2) allele indices (-1 missing, a1 = -2 for a haploid call) -> (k, n) int8 dosage.

    Row j counts copies of allele ``target[j]``; its record lists ``n_alt[j]`` ALT alleles.
    """
    a0 = alleles[..., 0]
    a1 = alleles[..., 1]
    bad = (a0 > n_alt[:, None]) | (a1 > n_alt[:, None])
    if bad.any():
        j = int(np.flatnonzero(bad.any(axis=1))[0])
        raise GenofaceError(
            f"{path}: {locate(j)} has an allele index above {int(n_alt[j])} though it lists "
            f"{int(n_alt[j])} ALT allele(s); fix its GT values"
        )
    haploid = a1 == -2
    if n_alt.max() == 1:  # biallelic rows only (all of them when snps_only): indices are 0/1
        dosage = np.where(haploid, 2 * a0, a0 + a1)
    else:
        t = target[:, None]
        hit0 = (a0 == t).astype(np.int16)
        dosage = np.where(haploid, 2 * hit0, hit0 + (a1 == t))
    dosage[(a0 < 0) | (a1 == -1)] = MISSING
    return dosage.astype(np.int8)


def _stack_transposed(blocks: list[np.ndarray], n: int, m: int) -> np.ndarray:
    """Variant-major blocks -> one C-ordered (n, m) array, freeing each block once copied."""
    out = np.empty((n, m), dtype=np.int8)
    j = 0
    blocks.reverse()
    while blocks:
        b = blocks.pop()
        out[:, j : j + len(b)] = b.T
        j += len(b)
    return out


def _canonical_chroms(names: Sequence[str] | np.ndarray) -> np.ndarray:
    """:func:`schema.normalize_chroms` through a hash table (a handful of distinct names)."""
    codes, uniq = pd.factorize(np.asarray(names, dtype=object))
    return schema.normalize_chroms(np.asarray(uniq, dtype=object))[codes]


def _genotype_data(
    path: Path,
    samples: np.ndarray,
    genotypes: np.ndarray,
    columns: dict,
    build: str | None,
    sex: np.ndarray | None = None,
) -> GenotypeData:
    """GenotypeData with canonical chromosome names, PAR SNPs on XY (build known) and ids for all."""
    return GenotypeData(samples, genotypes, _variant_frame(path, columns, build), sex=sex, build=build)


def _variant_frame(path: Path, columns: dict, build: str | None) -> pd.DataFrame:
    """The variant table with canonical chromosome names, PAR SNPs on XY (build known) and ids for all."""
    chrom = _canonical_chroms(columns["chrom"])
    empty = np.flatnonzero(chrom == "")
    if len(empty):
        raise GenofaceError(f"{path}: variant {empty[0] + 1} has no chromosome name; give every variant one")
    variants = pd.DataFrame({**columns, "chrom": chrom})
    if build:
        variants = schema.split_par(variants, build)
    ids = variants["id"].to_numpy(dtype=object)
    no_id = np.isin(ids, ["", "."])
    if no_id.any():  # "chrom:pos" of the canonical chromosome, so that "chr1" and "1" files agree
        chrom_pos = variants["chrom"].astype(str) + ":" + variants["pos"].astype(str)
        variants["id"] = np.where(no_id, chrom_pos.to_numpy(dtype=object), ids)
    return variant_table(variants)


def _plink_paths(path: Path) -> tuple[Path, Path, Path]:
    prefix = path.with_suffix("") if path.suffix == ".bed" else path
    return Path(f"{prefix}.bed"), Path(f"{prefix}.bim"), Path(f"{prefix}.fam")


class _Fileset:
    """What a genotype file opened for slices (not read whole) tells at once: its size."""

    sample_ids: np.ndarray
    variants: pd.DataFrame

    @property
    def n_samples(self) -> int:
        return len(self.sample_ids)

    @property
    def n_variants(self) -> int:
        return len(self.variants)


@dataclass
class PlinkFileset(_Fileset):
    """A PLINK 1 fileset opened for reading: its samples, the variants kept and their place
    among the .bim's rows; the dosages are read whole (:meth:`read`) or a slice of variants at
    a time (:meth:`blocks`), which is how a cohort larger than memory goes into its store.
    Open with :func:`open_plink`."""

    bed: Path
    sample_ids: np.ndarray
    variants: pd.DataFrame
    columns: np.ndarray  # the kept variants' rows in the .bim
    bim_rows: int  # all the .bim's rows, kept or not
    sex: np.ndarray | None
    build: str | None

    def read(self) -> np.ndarray:
        """All kept variants: (samples, variants) int8."""
        whole = len(self.columns) == self.bim_rows
        return self._read(None if whole else np.s_[:, self.columns], "C")

    def blocks(self, chunk: int):
        """Yield (j0, j1, (samples, j1 - j0) int8) for consecutive kept variants, ``chunk`` at a
        time; only those variants' bytes of the .bed are read."""
        for j0 in range(0, self.n_variants, chunk):
            j1 = min(j0 + chunk, self.n_variants)
            yield j0, j1, self._read(np.s_[:, self.columns[j0:j1]], "F")

    def _read(self, index, order: str) -> np.ndarray:
        from bed_reader import open_bed

        try:
            with open_bed(self.bed, iid_count=self.n_samples, sid_count=self.bim_rows) as ob:
                genotypes = ob.read(index=index, dtype="int8", order=order)
        except MemoryError:
            raise
        except Exception as e:  # bed-reader raises ValueError / OSError / its own errors
            raise GenofaceError(f"{self.bed}: not a readable PLINK 1 .bed ({e}); check it is complete") from None
        genotypes[genotypes == -127] = MISSING  # bed-reader's missing value for integer reads
        return genotypes


def open_plink(path: str | os.PathLike, *, snps_only: bool = True, build: str | None = None) -> PlinkFileset:
    """Read a PLINK 1 fileset's .fam and .bim (``path``: the .bed or the prefix) and check them;
    the genotypes are read later, whole or in slices."""
    from bed_reader import open_bed

    bed, bim, fam = _plink_paths(Path(path))
    for f in (bed, bim, fam):
        if not f.exists():
            raise GenofaceError(f"{bed}: PLINK fileset lacks {f.name}; put {bed.stem}.bed, .bim and .fam side by side")
    try:
        with open_bed(bed) as ob:
            iid = np.asarray(ob.iid, dtype=str)
            if len(iid) == 0:
                raise GenofaceError(f"{fam}: no samples; the .fam file is empty")
            if ob.sid_count == 0:
                raise GenofaceError(f"{bim}: no variants; the .bim file is empty")
            dups = _duplicates(list(iid))
            if dups:
                raise GenofaceError(f"{fam}: duplicate sample ids {_some(dups)}; make sample ids unique")
            alt = np.asarray(ob.allele_1, dtype=str)  # allele 1 is the counted one (module notes)
            columns = {
                "chrom": np.asarray(ob.chromosome, dtype=str),
                "pos": np.asarray(ob.bp_position, dtype=np.int64),
                "id": np.asarray(ob.sid, dtype=str),
                "ref": np.asarray(ob.allele_2, dtype=str),
                "alt": alt,
            }
            sex_code, sid_count = np.asarray(ob.sex), ob.sid_count
    except GenofaceError:
        raise
    except Exception as e:  # bed-reader raises ValueError / OSError / its own errors
        raise GenofaceError(
            f"{bed}: not a readable PLINK 1 .bed/.bim/.fam ({e}); check the three files belong together"
        ) from None
    keep = np.ones(sid_count, dtype=bool)
    if snps_only:
        keep = np.array([_is_snp(r, a) for r, a in zip(columns["ref"], alt, strict=False)], dtype=bool)
    if not keep.any():
        raise GenofaceError(f"{bim}: no biallelic SNPs among {len(keep)} variants; genoface needs SNP genotypes")
    if not keep.all():
        log.warning("%s: skipped %d variants that are not biallelic SNPs", bim, int((~keep).sum()))
    variants = _variant_frame(bim, {k: v[keep] for k, v in columns.items()}, build)
    sex = np.select([sex_code == 1, sex_code == 2], ["M", "F"], "")
    return PlinkFileset(bed, iid, variants, np.flatnonzero(keep), sid_count, None if (sex == "").all() else sex, build)


@dataclass
class VcfFileset(_Fileset):
    """A VCF/BCF read once, its dosages spilled to a temporary file of variant-major int8 rows
    instead of held: its samples and variants, and the dosages read whole (:meth:`read`) or a
    slice of variants at a time (:meth:`blocks`), as :class:`PlinkFileset` gives them; so a
    cohort's VCF larger than memory goes into its store without the whole matrix ever built.
    (A VCF cannot be sliced by variant without parsing it: cyvcf2 decodes it in order, once.)
    Open with :func:`open_vcf`; :meth:`close` removes the temporary file."""

    path: Path
    sample_ids: np.ndarray
    variants: pd.DataFrame
    build: str | None
    spill: Path
    _folder: tempfile.TemporaryDirectory
    sex: np.ndarray | None = None  # a VCF records no sex

    def read(self) -> np.ndarray:
        """All the variants: (samples, variants) int8."""
        out = np.empty((self.n_samples, self.n_variants), dtype=np.int8)
        for j0, j1, block in self.blocks(_READ_CHUNK):
            out[:, j0:j1] = block
        return out

    def blocks(self, chunk: int):
        """Yield (j0, j1, (samples, j1 - j0) int8) for consecutive variants, ``chunk`` at a time."""
        n = self.n_samples
        with open(self.spill, "rb") as fh:
            for j0 in range(0, self.n_variants, chunk):
                j1 = min(j0 + chunk, self.n_variants)
                rows = np.fromfile(fh, dtype=np.int8, count=(j1 - j0) * n).reshape(j1 - j0, n)
                yield j0, j1, np.ascontiguousarray(rows.T)

    def close(self) -> None:
        self._folder.cleanup()


def open_vcf(path: str | os.PathLike, *, snps_only: bool = True, build: str | None = None) -> VcfFileset:
    """Read a VCF / VCF.gz / BCF as :func:`read_genotypes` does (the same variants, dosages and
    errors), but with the dosages written to a temporary file as they are decoded, a chunk of
    variants at a time: memory holds one chunk, not the (samples, variants) matrix."""
    path = Path(path)
    if not path.is_file():
        raise GenofaceError(f"{path}: no such file; give a VCF (.vcf, .vcf.gz, .bcf)")
    wanted = _wanted_build(path, build)
    folder = tempfile.TemporaryDirectory(prefix="genoface-vcf-")
    spill = Path(folder.name) / "dosages.i8"
    try:
        with open(spill, "wb") as fh:
            samples, _, columns, found = _parse_vcf(path, snps_only, wanted, spill=fh)
        variants = _variant_frame(path, columns, found)
    except BaseException:
        folder.cleanup()
        raise
    return VcfFileset(path, np.asarray(samples, dtype=str), variants, found, spill, folder)


def _read_plink(path: Path, snps_only: bool, build: str | None) -> GenotypeData:
    plink = open_plink(path, snps_only=snps_only, build=build)
    return GenotypeData(plink.sample_ids, plink.read(), plink.variants, sex=plink.sex, build=build)


# ---- writing --------------------------------------------------------------------------------------


def _check_write_inputs(sample_ids, genotypes, variants) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    sample_ids = np.asarray(sample_ids, dtype=str)
    if not hasattr(genotypes, "take_rows"):  # a lazy view (StoredDosages) stays on disk
        genotypes = np.asarray(genotypes)
    variants = variant_table(variants)
    if genotypes.ndim != 2 or genotypes.shape != (len(sample_ids), len(variants)):
        raise GenofaceError(
            f"genotypes have shape {genotypes.shape}, expected ({len(sample_ids)} samples, {len(variants)} variants)"
        )
    if genotypes.dtype != np.int8:
        raise GenofaceError(f"genotypes must be int8 dosages (0/1/2, -1 missing), got {genotypes.dtype}")
    if len(sample_ids) == 0 or len(variants) == 0:
        raise GenofaceError(f"nothing to write: {len(sample_ids)} samples and {len(variants)} variants")
    bad = [s for s in sample_ids if not s or any(c.isspace() for c in s)]
    if bad:
        raise GenofaceError(f"sample ids must be non-empty without whitespace, got {_some([repr(b) for b in bad])}")
    dups = _duplicates(list(sample_ids))
    if dups:
        raise GenofaceError(f"duplicate sample ids {_some(dups)}; make sample ids unique")
    for col in ("chrom", "id", "ref", "alt"):
        v = variants[col]
        bad_rows = np.flatnonzero((v.str.len() == 0) | v.str.contains(r"\s", regex=True))
        if len(bad_rows):
            raise GenofaceError(
                f"variant {bad_rows[0] + 1} has an empty {col} or one containing whitespace: {v.iloc[bad_rows[0]]!r}"
            )
    if (variants["pos"] < 1).any():
        j = int(np.flatnonzero(variants["pos"].to_numpy() < 1)[0])
        raise GenofaceError(
            f"variant {j + 1} ({variants['id'].iloc[j]}) has position {variants['pos'].iloc[j]}; positions are 1-based"
        )
    return sample_ids, genotypes, variants


def _check_codes(block: np.ndarray, sample_ids: np.ndarray, variants: pd.DataFrame, j0: int) -> None:
    """``block`` is (k, n) for variants j0..j0+k; refuse values other than -1, 0, 1, 2."""
    if block.size and (block.min() < MISSING or block.max() > 2):
        j, i = (int(x[0]) for x in np.nonzero((block < MISSING) | (block > 2)))
        raise GenofaceError(
            f"genotype {int(block[j, i])} for sample {sample_ids[i]} at {variants['id'].iloc[j0 + j]}; "
            "dosages must be 0, 1, 2 or -1 (missing)"
        )


_DIPLOID = np.frombuffer(b"./.\t0/0\t0/1\t1/1\t", dtype=np.uint8).reshape(4, 4)
_HAPLOID = np.frombuffer(b".\t\0\x000\t\0\0?\t\0\x001\t\0\0", dtype=np.uint8).reshape(4, 4)


def _vcf_rows(block: np.ndarray, haploid: np.ndarray | None) -> np.ndarray:
    """(k, n) dosages -> (k, width) uint8 GT text of each row, newline-terminated.

    Vectorized through byte lookup tables: every call is 4 bytes ("0/1\\t"); haploid calls are 2
    bytes ("1\\t") and their 2 padding bytes are dropped by one column mask shared by all rows.
    """
    k, n = block.shape
    cells = _DIPLOID[block + 1]  # (k, n, 4)
    if haploid is not None:
        cells[:, haploid] = _HAPLOID[block[:, haploid] + 1]
        keep = np.ones((n, 4), dtype=bool)
        keep[haploid, 2:] = False
        rows = cells.reshape(k, n * 4)[:, keep.ravel()]
    else:
        rows = cells.reshape(k, n * 4)
    rows[:, -1] = ord("\n")
    return rows


def _vcf_header(sample_ids: np.ndarray, variants: pd.DataFrame) -> bytes:
    contigs = "".join(f"##contig=<ID={c}>\n" for c in dict.fromkeys(variants["chrom"]))
    return (
        "##fileformat=VCFv4.2\n##source=genoface\n"
        + contigs
        + '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
        + "\t".join(sample_ids)
        + "\n"
    ).encode()


def write_vcf(
    path: str | os.PathLike,
    sample_ids: Sequence[str] | np.ndarray,
    genotypes: np.ndarray,
    variants: pd.DataFrame,
    *,
    haploid: np.ndarray | None = None,
    index: bool = True,
) -> Path:
    """Write a VCF 4.2 with GT only (unphased ``0/1``); BGZF with a tabix index when ``path``
    ends in .gz / .bgz, plain text otherwise.

    Parameters
    ----------
    genotypes : (n, m) int8 ALT dosage 0/1/2, -1 missing.
    variants : columns chrom, pos, id, ref, alt (one row per column of ``genotypes``).
    haploid : optional (n,) bool; those samples are written as haploid calls ("0", "1", ".") at
        variants on X (not XY, the PARs: diploid in men); their dosage 2 becomes "1" and a
        heterozygous dosage there is an error.
    index : write the index beside a BGZF file: ``path.tbi`` (``path.csi`` where a position
        reaches 2^29, beyond .tbi). Only where the variants are sorted (each chromosome in one
        run, positions non-decreasing); otherwise the file is written without one and a warning
        says so (``bcftools sort`` then ``bcftools index`` make one).

    The file is renamed into place complete; any old index beside it is removed first and the
    new one renamed in right after, so an index beside the file always belongs to it.
    """
    path = Path(path)
    sample_ids, genotypes, variants = _check_write_inputs(sample_ids, genotypes, variants)
    n, m = genotypes.shape
    # Canonical names, so that a table still saying "chrX" or "23" gets haploid males too.
    is_x = _canonical_chroms(variants["chrom"].to_numpy()) == schema.X
    chunks = _VcfChunks(sample_ids, genotypes, variants, is_x, _haploid_samples(haploid, n))
    header = _vcf_header(sample_ids, variants)
    compress = path.name.endswith((".gz", ".bgz"))
    indexed = _indexable(path, variants) if compress and index else False
    tbi, csi = Path(f"{path}.tbi"), Path(f"{path}.csi")
    _write_vcf_text(path, header, chunks, compress, stale_indexes=[tbi, csi] if compress else [])
    if indexed:
        end = variants["pos"].to_numpy(np.int64) - 1 + variants["ref"].str.len().to_numpy(np.int64)
        needs_csi = bool(end.max() >= TBI_MAX_POS)
        write_tabix_index(path, csi if needs_csi else tbi, csi=needs_csi)
    log.debug("wrote %s: %d samples x %d variants", path, n, m)
    return path


def _haploid_samples(haploid: np.ndarray | None, n: int) -> np.ndarray | None:
    """The (n,) bool mask of samples written haploid on X; None where there are none."""
    if haploid is None:
        return None
    hap = np.asarray(haploid, dtype=bool)
    if hap.shape != (n,):
        raise GenofaceError(f"haploid mask has shape {hap.shape}, expected ({n},) one flag per sample")
    return hap if hap.any() else None


def _indexable(path: Path, variants: pd.DataFrame) -> bool:
    """Whether the variants are sorted, so that an index can be written; a warning if not."""
    if _is_sorted(variants):
        return True
    log.warning(
        "%s: variants are not sorted by chromosome and position, so no index is written; "
        "`bcftools sort` and `bcftools index` make an indexable copy",
        path,
    )
    return False


@dataclass
class _VcfChunks:
    """The VCF data lines of a genotype matrix, ``step`` variants (about :data:`_WRITE_BYTES`
    of text) at a time."""

    sample_ids: np.ndarray
    genotypes: np.ndarray  # (n, m) int8
    variants: pd.DataFrame
    is_x: np.ndarray  # (m,) bool: the variant is on X (not XY)
    haploid: np.ndarray | None  # (n,) bool: written haploid on X; None where no sample is

    def __post_init__(self) -> None:
        v = self.variants
        self.prefixes = [
            f"{c}\t{p}\t{i}\t{r}\t{a}\t.\t.\t.\tGT\t".encode()
            for c, p, i, r, a in zip(v["chrom"], v["pos"], v["id"], v["ref"], v["alt"], strict=False)
        ]
        self.step = max(1, _WRITE_BYTES // (4 * len(self.sample_ids)))

    def text(self, j0: int) -> bytes:
        """The lines of variants j0 .. j0 + step; dosages other than -1, 0, 1, 2 refused."""
        block = self.genotypes[:, j0 : j0 + self.step].T  # (k, n) view
        _check_codes(block, self.sample_ids, self.variants, j0)
        x = self.is_x[j0 : j0 + self.step]
        if self.haploid is None or not x.any():
            rows = {j: r for j, r in enumerate(_vcf_rows(block, None))}
        else:
            self._check_hemizygous(block, x, j0)
            rows = {}
            for sel, mask in ((np.flatnonzero(~x), None), (np.flatnonzero(x), self.haploid)):
                if len(sel):
                    rows.update(zip(sel.tolist(), _vcf_rows(block[sel], mask), strict=False))
        return b"".join(self.prefixes[j0 + j] + rows[j].tobytes() for j in range(len(rows)))

    def _check_hemizygous(self, block: np.ndarray, x: np.ndarray, j0: int) -> None:
        """Refuse a heterozygous call of a haploid sample on X (``block`` (k, n) from variant j0)."""
        bad = block[x][:, self.haploid] == 1
        if bad.any():
            jx, i = (int(v[0]) for v in np.nonzero(bad))
            j = j0 + int(np.flatnonzero(x)[jx])
            raise GenofaceError(
                f"sample {self.sample_ids[self.haploid][i]} is haploid (male) but heterozygous at "
                f"{self.variants['id'].iloc[j]} on X; "
                "set that call to 0, 2 or missing, or do not mark the sample haploid"
            )


def _write_vcf_text(path: Path, header: bytes, chunks: _VcfChunks, compress: bool, stale_indexes: list[Path]) -> None:
    """Write the header and every chunk's lines to ``path`` (BGZF where ``compress``), renamed
    into place complete; ``stale_indexes`` are removed once the data is complete, just before."""
    m, step = chunks.genotypes.shape[1], chunks.step
    # Text of the next chunk is built on one thread while this one is compressed on others (numpy
    # and zlib release the GIL): with more cores, BGZF blocks are compressed in parallel. The text
    # stays on one thread so that its large buffers are reused, not held once per thread.
    zippers = max(1, min(8, os.cpu_count() or 1) - 1)
    with (
        ThreadPoolExecutor(max_workers=1) as texter,
        ThreadPoolExecutor(max_workers=zippers) as zipper,
        atomic_stream(path) as raw,
    ):
        out = BgzfWriter(raw, zipper) if compress else raw
        out.write(header)
        pending = texter.submit(chunks.text, 0)
        for j0 in range(0, m, step):
            text = pending.result()
            if j0 + step < m:
                pending = texter.submit(chunks.text, j0 + step)
            out.write(text)
        if isinstance(out, BgzfWriter):
            out.close()
        for old in stale_indexes:  # the data is complete: only now may an old index go
            old.unlink(missing_ok=True)


def _is_sorted(variants: pd.DataFrame) -> bool:
    """Each chromosome in one run and positions non-decreasing within it (what an index needs)."""
    codes, _ = pd.factorize(variants["chrom"])
    pos = variants["pos"].to_numpy()
    same = codes[1:] == codes[:-1]
    return bool((np.diff(codes) >= 0).all() and (pos[1:][same] >= pos[:-1][same]).all())


def write_plink(
    prefix: str | os.PathLike,
    sample_ids: Sequence[str] | np.ndarray,
    genotypes: Any,
    variants: pd.DataFrame,
    *,
    sex: Sequence[str] | np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write a PLINK 1 fileset ``prefix.bed/.bim/.fam``; returns the .bed path.

    Allele 1 is ALT (the counted allele) and allele 2 REF, so bed dosages are ALT dosages.
    ``sex`` is (n,) "M" / "F" / anything else for unknown; FID is set to the sample id.
    ``genotypes`` is an (n, m) int8 array or a lazy view read where indexed (a
    :class:`~genoface.io.genotype_store.StoredDosages`): it is read and written a block of
    variants at a time (bed-reader's ``create_bed``, SNP by SNP), so the matrix is never
    copied whole. Nothing is left at ``prefix.bed`` unless every variant was written.
    """
    from bed_reader import create_bed

    bed, _, _ = _plink_paths(Path(prefix))
    sample_ids, genotypes, variants = _check_write_inputs(sample_ids, genotypes, variants)
    n, m = genotypes.shape
    properties = _plink_properties(sample_ids, variants, sex)
    step = max(1, _WRITE_BYTES // n)
    bad: list[GenofaceError] = []  # create_bed's own error on leaving would hide ours
    try:
        with create_bed(bed, n, m, properties=properties, count_A1=True) as writer:
            for j0 in range(0, m, step):
                block = np.asarray(genotypes[:, j0 : j0 + step], dtype=np.int8).T  # (variants, n)
                try:
                    _check_codes(block, sample_ids, variants, j0)
                except GenofaceError as e:
                    bad.append(e)
                    raise
                for column in np.where(block < 0, np.int8(-127), block):  # bed-reader's missing
                    writer.write(column)
                if progress is not None:
                    progress(min(j0 + step, m), m)
    except Exception as e:
        for path in _plink_paths(Path(prefix)):  # no partial fileset
            path.unlink(missing_ok=True)
        if bad:
            raise bad[0] from None
        raise GenofaceError(f"{bed}: could not write the PLINK fileset ({e})") from None
    log.debug("wrote %s: %d samples x %d variants", bed, n, m)
    return bed


def _plink_properties(sample_ids: np.ndarray, variants: pd.DataFrame, sex: Any) -> dict[str, np.ndarray]:
    """The .fam and .bim columns, as bed-reader names them (allele 1 = ALT, counted)."""
    n = len(sample_ids)
    if sex is None:
        sex_code = np.zeros(n, dtype=np.int32)
    else:
        s = np.asarray(sex, dtype=str)
        if s.shape != (n,):
            raise GenofaceError(f"sex has shape {s.shape}, expected ({n},) one value per sample")
        sex_code = np.select([s == "M", s == "F"], [1, 2], 0).astype(np.int32)
    return {
        "fid": sample_ids,
        "iid": sample_ids,
        "sex": sex_code,
        "chromosome": variants["chrom"].to_numpy(),
        "sid": variants["id"].to_numpy(),
        "cm_position": np.zeros(len(variants)),
        "bp_position": variants["pos"].to_numpy(),
        "allele_1": variants["alt"].to_numpy(),
        "allele_2": variants["ref"].to_numpy(),
    }


def _some(items: Sequence[str], k: int = 5) -> str:
    """'a, b, c, d, e (and 12 more)': the first few of a list for an error message."""
    items = list(items)
    head = ", ".join(map(str, items[:k]))
    return head + (f" (and {len(items) - k} more)" if len(items) > k else "")
