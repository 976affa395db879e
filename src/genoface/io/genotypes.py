"""Genotype files to and from dosage matrices: VCF / BCF (cyvcf2) and PLINK 1 bed (bed-reader).

In memory a genotype matrix is (samples, variants) int8: the dosage of the ALT allele 0/1/2,
-1 missing (DESIGN "Genotype coding"). Haploid calls (males on X, written ``0`` / ``1``) are
hemizygous and become 0 / 2. Only biallelic SNPs are kept; other records are skipped with one
warning that gives their count.
"""

from __future__ import annotations

import gzip
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from genoface._fs import atomic_stream
from genoface.errors import GenofaceError

log = logging.getLogger(__name__)

#: Columns of every variant table, in this order.
VARIANT_COLUMNS = ("chrom", "pos", "id", "ref", "alt")
#: Chromosome names treated as X (haploid males when writing).
X_CHROMS = frozenset({"X", "chrX"})
#: Genotype code for a missing call.
MISSING = -1

_BASES = frozenset("ACGTN")
# BGZF files end with this empty block; htslib only warns when it is absent, so a BGZF file cut
# at a block boundary would otherwise read as a shorter, valid file.
_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
_READ_CHUNK = 1024  # variants decoded per vectorized step when reading
_WRITE_BYTES = 1 << 24  # about this much VCF text per chunk when writing
_GZIP_LEVEL = 4  # ~4x faster than the default 6 on genotype text, files ~15% larger


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
    """

    sample_ids: np.ndarray
    genotypes: np.ndarray
    variants: pd.DataFrame
    sex: np.ndarray | None = None

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
        )

    @property
    def n_variants(self) -> int:
        return len(self.variants)


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


def read_genotypes(path: str | os.PathLike) -> GenotypeData:
    """Read a VCF / VCF.gz / BCF (GT field) or a PLINK 1 fileset (``x.bed`` or the prefix ``x``)."""
    path = Path(path)
    if path.suffix == ".bed" or (not path.exists() and Path(f"{path}.bed").exists()):
        return _read_plink(path)
    if not path.exists():
        raise GenofaceError(f"{path}: no such file; give a VCF (.vcf, .vcf.gz, .bcf) or a PLINK .bed")
    if path.is_dir():
        raise GenofaceError(f"{path} is a directory; give a VCF (.vcf, .vcf.gz, .bcf) or a PLINK .bed")
    return _read_vcf(path)


def _is_snp(ref: str, alt: str) -> bool:
    return len(ref) == 1 and len(alt) == 1 and ref.upper() in _BASES and alt.upper() in _BASES and ref != alt


def _check_bgzf_complete(path: Path) -> None:
    """Refuse a BGZF file (VCF.gz, BCF) that lacks its end-of-file block: it was cut short."""
    with open(path, "rb") as fh:
        head = fh.read(18)
        if len(head) < 18 or head[:4] != b"\x1f\x8b\x08\x04" or head[12:14] != b"BC":
            return  # plain gzip or text: htslib reports a truncated stream itself
        fh.seek(0, os.SEEK_END)
        if fh.tell() < len(_BGZF_EOF):
            raise GenofaceError(f"{path}: truncated BGZF file; copy or download it again")
        fh.seek(-len(_BGZF_EOF), os.SEEK_END)
        if fh.read() != _BGZF_EOF:
            raise GenofaceError(
                f"{path}: the BGZF end-of-file marker is missing, so the file is truncated; "
                "copy it again (or re-compress it with `bgzip` if another tool wrote it without one)"
            )


def _text_header(path: Path) -> tuple[int, list[str]] | None:
    """(number of header lines, sample names) of a text VCF (plain or gzip); None if unreadable.

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
    except (OSError, EOFError, UnicodeError):
        return None
    return None


def _duplicates(ids: Sequence[str]) -> list[str]:
    s = pd.Series(ids)
    return list(dict.fromkeys(s[s.duplicated()]))


def _read_vcf(path: Path) -> GenotypeData:
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
        return _decode_vcf(vcf, path)
    finally:
        vcf.close()


def _decode_vcf(vcf, path: Path) -> GenotypeData:
    samples = np.asarray(vcf.samples, dtype=str)
    n = len(samples)
    if n == 0:
        raise GenofaceError(f"{path}: the VCF has no sample columns; genotypes of at least one sample are needed")
    dups = _duplicates(list(samples))
    if dups:
        raise GenofaceError(f"{path}: duplicate sample ids {_some(dups)}; make sample ids unique")
    header = _text_header(path)  # None for BCF: there only record numbers can be given

    chrom: list[str] = []
    pos: list[int] = []
    ids: list[str] = []
    refs: list[str] = []
    alts: list[str] = []
    blocks: list[np.ndarray] = []  # (k, n) int8 dosage blocks, variant-major
    buf = np.empty((_READ_CHUNK, n, 2), dtype=np.int16)  # alleles (a0, a1); a1 = -2: haploid
    k = 0
    n_records = 0
    skipped = 0

    def where() -> str:
        loc = f"line {header[0] + n_records + 1}" if header else f"record {n_records + 1}"
        return loc + (f" (after {chrom[-1]}:{pos[-1]})" if chrom else "")

    it = iter(vcf)
    while True:
        try:
            rec = next(it)
        except StopIteration:
            break
        except Exception as e:
            log.debug("cyvcf2: %s", e)
            raise GenofaceError(
                f"{path}: cannot parse the record at {where()}: wrong number of columns, a bad field "
                "or a file cut short (htslib's reason is on stderr); fix that line or re-export the file"
            ) from None
        alt = rec.ALT
        if len(alt) != 1 or not _is_snp(rec.REF, alt[0]):
            skipped += 1
            n_records += 1
            continue
        try:
            gt = rec.genotype.array()  # (n, ploidy + 1) int16: alleles then the phased flag
        except Exception:
            raise GenofaceError(f"{path}: no GT field at {where()}; genoface reads GT only") from None
        ploidy = gt.shape[1] - 1
        if ploidy == 2:
            buf[k] = gt[:, :2]
        elif ploidy == 1:
            buf[k, :, 0] = gt[:, 0]
            buf[k, :, 1] = -2
        else:
            raise GenofaceError(f"{path}: ploidy {ploidy} at {where()}; only haploid and diploid calls are supported")
        chrom.append(rec.CHROM)
        pos.append(rec.POS)
        ids.append(rec.ID or f"{rec.CHROM}:{rec.POS}")
        refs.append(rec.REF)
        alts.append(alt[0])
        n_records += 1
        k += 1
        if k == _READ_CHUNK:
            blocks.append(_alleles_to_dosage(buf[:k], path, len(chrom) - k))
            k = 0
    if k:
        blocks.append(_alleles_to_dosage(buf[:k], path, len(chrom) - k))
    if skipped:
        log.warning("%s: skipped %d records that are not biallelic SNPs", path, skipped)
    if not chrom:
        raise GenofaceError(
            f"{path}: no biallelic SNPs ({n_records} records, {skipped} skipped); genoface needs SNP genotypes"
        )
    genotypes = _stack_transposed(blocks, n, len(chrom))
    variants = pd.DataFrame({"chrom": chrom, "pos": pos, "id": ids, "ref": refs, "alt": alts})
    return GenotypeData(samples, genotypes, variants)


def _alleles_to_dosage(alleles: np.ndarray, path: Path, first_variant: int) -> np.ndarray:
    """(k, n, 2) allele indices (-1 missing, a1 = -2 for a haploid call) -> (k, n) int8 dosage."""
    a0 = alleles[..., 0]
    a1 = alleles[..., 1]
    haploid = a1 == -2
    dosage = np.where(haploid, 2 * a0, a0 + a1)
    if ((a0 > 1) | (a1 > 1)).any():
        j = int(np.flatnonzero(((a0 > 1) | (a1 > 1)).any(axis=1))[0])
        raise GenofaceError(
            f"{path}: variant {first_variant + j + 1} has an allele index above 1 though it lists one ALT allele; fix its GT values"
        )
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


def _plink_paths(path: Path) -> tuple[Path, Path, Path]:
    prefix = path.with_suffix("") if path.suffix == ".bed" else path
    return Path(f"{prefix}.bed"), Path(f"{prefix}.bim"), Path(f"{prefix}.fam")


def _read_plink(path: Path) -> GenotypeData:
    from bed_reader import open_bed

    bed, bim, fam = _plink_paths(path)
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
            chrom = np.asarray(ob.chromosome, dtype=str)
            pos = np.asarray(ob.bp_position, dtype=np.int64)
            sid = np.asarray(ob.sid, dtype=str)
            alt = np.asarray(ob.allele_1, dtype=str)  # genoface writes allele 1 = ALT (the counted one)
            ref = np.asarray(ob.allele_2, dtype=str)
            sex_code = np.asarray(ob.sex)
            keep = np.array([_is_snp(r, a) for r, a in zip(ref, alt, strict=False)], dtype=bool)
            if not keep.any():
                raise GenofaceError(
                    f"{bim}: no biallelic SNPs among {len(keep)} variants; genoface needs SNP genotypes"
                )
            index = None if keep.all() else np.s_[:, np.flatnonzero(keep)]
            genotypes = ob.read(index=index, dtype="int8", order="C")
    except GenofaceError:
        raise
    except Exception as e:  # bed-reader raises ValueError / OSError / its own errors
        raise GenofaceError(
            f"{bed}: not a readable PLINK 1 .bed/.bim/.fam ({e}); check the three files belong together"
        ) from None
    if not keep.all():
        log.warning("%s: skipped %d variants that are not biallelic SNPs", bim, int((~keep).sum()))
    genotypes[genotypes == -127] = MISSING  # bed-reader's missing value for integer reads
    ids = np.where(np.isin(sid, [".", ""]), np.char.add(np.char.add(chrom, ":"), pos.astype(str)), sid)
    variants = pd.DataFrame(
        {"chrom": chrom[keep], "pos": pos[keep], "id": ids[keep], "ref": ref[keep], "alt": alt[keep]}
    )
    sex = np.select([sex_code == 1, sex_code == 2], ["M", "F"], "")
    return GenotypeData(iid, genotypes, variants, sex=None if (sex == "").all() else sex)


# ---- writing --------------------------------------------------------------------------------------


def _check_write_inputs(sample_ids, genotypes, variants) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    sample_ids = np.asarray(sample_ids, dtype=str)
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
) -> Path:
    """Write a VCF 4.2 with GT only (unphased ``0/1``), gzip-compressed when ``path`` ends in .gz.

    Parameters
    ----------
    genotypes : (n, m) int8 ALT dosage 0/1/2, -1 missing.
    variants : columns chrom, pos, id, ref, alt (one row per column of ``genotypes``).
    haploid : optional (n,) bool; those samples are written as haploid calls ("0", "1", ".") at
        variants on X (their dosage 2 becomes "1"); a heterozygous dosage there is an error.

    The file is plain gzip, not BGZF (no well-kept BGZF writer is installed here): htslib,
    cyvcf2 and bcftools read it, but it cannot be tabix-indexed without ``bgzip``.
    """
    path = Path(path)
    sample_ids, genotypes, variants = _check_write_inputs(sample_ids, genotypes, variants)
    n, m = genotypes.shape
    is_x = variants["chrom"].isin(X_CHROMS).to_numpy()
    hap = None
    if haploid is not None:
        hap = np.asarray(haploid, dtype=bool)
        if hap.shape != (n,):
            raise GenofaceError(f"haploid mask has shape {hap.shape}, expected ({n},) one flag per sample")
        if not hap.any():
            hap = None
    prefixes = [
        f"{c}\t{p}\t{i}\t{r}\t{a}\t.\t.\t.\tGT\t".encode()
        for c, p, i, r, a in zip(
            variants["chrom"], variants["pos"], variants["id"], variants["ref"], variants["alt"], strict=False
        )
    ]
    step = max(1, _WRITE_BYTES // (4 * n))

    def chunk_text(j0: int) -> bytes:
        block = genotypes[:, j0 : j0 + step].T  # (k, n) view
        _check_codes(block, sample_ids, variants, j0)
        x = is_x[j0 : j0 + step]
        if hap is None or not x.any():
            rows = {j: r for j, r in enumerate(_vcf_rows(block, None))}
        else:
            bad = block[x][:, hap] == 1
            if bad.any():
                jx, i = (int(v[0]) for v in np.nonzero(bad))
                j = j0 + int(np.flatnonzero(x)[jx])
                raise GenofaceError(
                    f"sample {sample_ids[hap][i]} is haploid (male) but heterozygous at {variants['id'].iloc[j]} on X; "
                    "set that call to 0, 2 or missing, or do not mark the sample haploid"
                )
            rows = {}
            for sel, mask in ((np.flatnonzero(~x), None), (np.flatnonzero(x), hap)):
                if len(sel):
                    rows.update(zip(sel.tolist(), _vcf_rows(block[sel], mask), strict=False))
        return b"".join(prefixes[j0 + j] + rows[j].tobytes() for j in range(len(rows)))

    compress = path.name.endswith((".gz", ".bgz"))
    with atomic_stream(path) as raw:
        out: BinaryIO = (
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=_GZIP_LEVEL, mtime=0) if compress else raw
        )
        try:
            out.write(_vcf_header(sample_ids, variants))
            # Build the next chunk's text while this one is compressed: numpy and zlib both
            # release the GIL, so the two overlap on two cores.
            with ThreadPoolExecutor(max_workers=1) as pool:
                pending = pool.submit(chunk_text, 0)
                for j0 in range(0, m, step):
                    text = pending.result()
                    if j0 + step < m:
                        pending = pool.submit(chunk_text, j0 + step)
                    out.write(text)
        finally:
            if compress:
                out.close()
    log.debug("wrote %s: %d samples x %d variants", path, n, m)
    return path


def write_plink(
    prefix: str | os.PathLike,
    sample_ids: Sequence[str] | np.ndarray,
    genotypes: np.ndarray,
    variants: pd.DataFrame,
    *,
    sex: Sequence[str] | np.ndarray | None = None,
) -> Path:
    """Write a PLINK 1 fileset ``prefix.bed/.bim/.fam``; returns the .bed path.

    Allele 1 is ALT (the counted allele) and allele 2 REF, so bed dosages are ALT dosages.
    ``sex`` is (n,) "M" / "F" / anything else for unknown; FID is set to the sample id.
    """
    from bed_reader import to_bed

    bed, _, _ = _plink_paths(Path(prefix))
    sample_ids, genotypes, variants = _check_write_inputs(sample_ids, genotypes, variants)
    n, m = genotypes.shape
    step = max(1, _WRITE_BYTES // n)
    for j0 in range(0, m, step):
        _check_codes(genotypes[:, j0 : j0 + step].T, sample_ids, variants, j0)
    # bed-reader's integer missing value is -127; recode in row blocks so that the only large
    # temporary is the one int8 copy.
    val = np.empty_like(genotypes)
    rows = max(1, _WRITE_BYTES // m)
    for i0 in range(0, n, rows):
        g = genotypes[i0 : i0 + rows]
        val[i0 : i0 + rows] = np.where(g < 0, np.int8(-127), g)
    if sex is None:
        sex_code = np.zeros(n, dtype=np.int32)
    else:
        s = np.asarray(sex, dtype=str)
        if s.shape != (n,):
            raise GenofaceError(f"sex has shape {s.shape}, expected ({n},) one value per sample")
        sex_code = np.select([s == "M", s == "F"], [1, 2], 0).astype(np.int32)
    properties = {
        "fid": sample_ids,
        "iid": sample_ids,
        "sex": sex_code,
        "chromosome": variants["chrom"].to_numpy(),
        "sid": variants["id"].to_numpy(),
        "cm_position": np.zeros(m),
        "bp_position": variants["pos"].to_numpy(),
        "allele_1": variants["alt"].to_numpy(),
        "allele_2": variants["ref"].to_numpy(),
    }
    try:
        to_bed(bed, val, properties=properties, count_A1=True)
    except Exception as e:
        raise GenofaceError(f"{bed}: could not write the PLINK fileset ({e})") from None
    log.debug("wrote %s: %d samples x %d variants", bed, n, m)
    return bed


def _some(items: Sequence[str], k: int = 5) -> str:
    """'a, b, c, d, e (and 12 more)': the first few of a list for an error message."""
    items = list(items)
    head = ", ".join(map(str, items[:k]))
    return head + (f" (and {len(items) - k} more)" if len(items) > k else "")
