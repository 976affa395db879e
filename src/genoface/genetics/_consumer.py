"""Direct-to-consumer raw genotype files (23andMe, AncestryDNA, FTDNA, MyHeritage, ...) and
matching them to a panel.

These files hold one person's calls as allele letters, with no REF/ALT: they become ALT dosages
only against a panel that names REF and ALT per variant (a model's SNP list, a cohort's variant
table), through the allele matcher (:mod:`genoface.genetics._alleles`), which resolves the strand
of non-palindromic SNPs.

Reading. The format is told from the content (the comment banner, the column header, the first
genotype line), never from the file name; a file may come as downloaded: plain text, gzip
(``.gz``, concatenated members too) or a zip archive holding one file (23andMe's download).
Layouts, one line per call, comments starting with ``#``:

=====================  =====================================================================
source                 what tells it, layout
=====================  =====================================================================
23andme                banner "23andMe"; ``rsid chromosome position genotype`` (tab), or
                       ``... allele1 allele2``; the header is the last comment line
ancestrydna            banner "AncestryDNA"; header ``rsid chromosome position allele1
                       allele2``; any run of tabs/spaces separates; chromosomes 23-26
ftdna                  header ``RSID,CHROMOSOME,POSITION,RESULT``: quoted CSV; a repeated
                       header line inside (two downloads joined) is skipped
famfinder              banner "famfinder": CSV ``name,chromosome,position,allele1,allele2``
myheritage             banner "MyHeritage": FTDNA's CSV, also with doubled quotes
                       (``"rs1"",""1"",...``)
livingdna, 23mofang,   banner names them; 23andMe's layout (LivingDNA's ``.csv`` is
dnaland, selfdecode,   tab-separated)
genesforgood
plink23                banner "Below is a text version of your data" and no company: what
                       ``plink --recode 23`` writes, 23andMe's layout
mapmygenome            Illumina report columns (``SNP Name``/``rsID``, ``Chr``, ``Position``,
                       ``Allele1...Plus`` ...), or 23andMe's layout with a Mapmygenome banner
circledna              banner "Circle": ``MARKERNAME CHROM POS GT``, GT as ``A/G`` (longer
                       alleles of indels kept as written)
codigo46, sano         Illumina GSA final report: ``[Header]`` (naming the company) ...
                       ``[Data]``, then ``SNP Name``, ``Allele1 - Plus``/``- Forward`` ...;
                       without Chr/Position columns, chrom:pos are read from names like
                       ``1:101``; one sample only
sano (DTC)             header ``rsid chromosome position allele_1 allele_2``
tellmegen              header ``rsid Chromosome position genotype`` (GSA names as ids)
generic                any other table with a header naming an id, chromosome and position
                       column and a genotype (or allele1/allele2) column, comma-, tab- or
                       space-separated, extra columns ignored; or no header and 4 (genotype)
                       or 5 (two alleles) columns ``rsid chromosome position ...``
=====================  =====================================================================

Calls: genotypes "AG", "A" (haploid: men on X/Y/MT), "A/G"; indel probes as D/I letters ("DI");
no-calls "--", "-", "00", "0 0", "NC", "??", "" become missing (allele1 = allele2 = ""). With
two allele columns either allele missing ("0", "-") makes the call missing. Chromosomes are
named by :func:`genoface.core.schema.normalize_chrom` ("1".."22", "X", "Y", "XY", "MT"; "--" or
"0" = not mapped: chrom "" and, with a position of "--", pos 0). A position of 0 is allowed. An
id cell naming several rsIDs ("rs6,rs9") gives one row per id. Illumina "Plus" alleles are the
genome's + strand and preferred; "Forward"/"Top" alleles (Sano's report) may be on the other
strand, which the allele matcher resolves for non-palindromic SNPs.

Refused, each with a one-line :class:`GenofaceError` naming the file, the format detected (or
that none was) and what to do: empty files, VCF/BCF (read by the VCF reader), PLINK
.bed/.bim, FASTA, binary files, archives of several files, reports of several samples, tables
with no genotype column, and every malformed line (named by its line number).

Speed: the table is parsed by pandas' C reader (ids as objects, chromosome and genotype
columns as categories, positions as int64) and each distinct chromosome / genotype value is
checked once: a 600,000-line 23andMe file takes about 0.5 s (the former loop per line 1-2 s). A
line-by-line pass runs only to name the line of an error.

Why not depend on the ``snps`` package (PyPI 2.12.1, BSD-3, installable here: pure Python on
numpy, pandas and ``atomicwrites``; it detects the same formats and its test files are our
fixtures): it reads into one genotype string per rsID, dropping or merging rows (CircleDNA's
calls without an rsID, duplicate ids) and naming no line of a malformed file; for the GSA
formats (tellmeGen, codigo46, Sano) and for PAR SNPs it downloads resource files at run time,
which offline installs cannot; and ``atomicwrites`` is no longer maintained upstream. The
formats are simple tables, read here with pandas, which the project already uses.
"""

from __future__ import annotations

import csv
import functools
import io
import logging
import os
import re
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from genoface.core.errors import GenofaceError
from genoface.core.schema import AUTOSOMES, MT, PAR, X, Y, normalize_chrom
from genoface.genetics._alleles import MatchReport, match_calls, panel_table
from genoface.io.genotypes import GenotypeData

log = logging.getLogger(__name__)

_ALLELES = frozenset("ACGTDI")  # D / I: deletion / insertion calls of indel probes
_CANONICAL = frozenset(AUTOSOMES) | {X, Y, PAR, MT}
#: Genotype cells that are no-calls (upper-case, with "/", "|" and spaces removed).
_NO_CALLS = frozenset({"", "-", "--", "0", "00", "NC", "?", "??", ".", ".."})
#: Allele cells (of two-allele layouts) that are no-calls.
_NO_ALLELE = frozenset({"", "-", "--", "0", "?", "??", ".", "NC"})
#: Chromosome / position cells of calls not mapped to the genome.
_UNMAPPED = frozenset({"", "-", "--", "0", ".", "NA"})
_UNKNOWN_POS = frozenset({"", "-", "--", ".", "NA"})
_SEQUENCE = re.compile(r"[ACGT]+")
_POSITION = re.compile(r"[0-9]{1,12}")
_NEWLINE = re.compile(r"\r\n|\r|\n")
_BLANKS = re.compile(r"[ \t]+")
_CHR_POS_ID = re.compile(r"^(?:chr)?([0-9]{1,2}|X|Y|XY|MT|M)[:_-](\d+)", re.IGNORECASE)

#: Column names by role (lower case, letters and digits only), preferred first.
_ID_NAMES = (
    "rsid",
    "snpname",
    "name",
    "markername",
    "marker",
    "snpid",
    "snp",
    "id",
    "rsnumber",
    "variantid",
    "variant",
)
_CHROM_NAMES = ("chromosome", "chrom", "chr")
_POS_NAMES = ("position", "pos", "bp", "basepair", "physicalposition", "coordinate", "mapinfo")
_GT_NAMES = ("genotype", "result", "gt", "call", "genotypes")
_SAMPLE_NAMES = ("sampleid", "samplename", "sample")
_ALLELE_STRANDS = ("plus", "", "forward", "top")  # Illumina's + strand first
_ROLE_NAMES = frozenset(_ID_NAMES + _CHROM_NAMES + _POS_NAMES + _GT_NAMES + _SAMPLE_NAMES) | {
    f"allele{i}{s}" for i in (1, 2) for s in (*_ALLELE_STRANDS, "design", "ab")
}
#: Companies named in a file's banner (its comment lines), most specific first.
_BANNER_SOURCES = (
    ("genes for good", "genesforgood"),
    ("dna.land", "dnaland"),
    ("23mofang", "23mofang"),
    ("selfdecode", "selfdecode"),
    ("living dna", "livingdna"),
    ("livingdna", "livingdna"),
    ("mapmygenome", "mapmygenome"),
    ("myheritage", "myheritage"),
    ("famfinder", "famfinder"),
    ("familytreedna", "ftdna"),
    ("tellmegen", "tellmegen"),
    ("derived from the corresponding vcf", "sano"),
    ("23andme", "23andme"),
    ("ancestrydna", "ancestrydna"),
    ("ancestry", "ancestrydna"),
)
#: Read at most this many bytes to tell a file's format (:func:`detect_format`).
_HEAD = 1 << 18
#: Layouts wider than this read only the columns they need.
_NARROW = 8
#: What :func:`detect_format` answers for genotype files of other readers.
NOT_CONSUMER = frozenset({"vcf", "bcf", "plink"})


@dataclass
class ConsumerGenotypes:
    """The calls of one person from a consumer raw-data file, in file order.

    Attributes
    ----------
    sample_id : the file name without its extensions.
    rsid, chrom, pos : (m,) variant id as written, chromosome ("1".."22", "X", "Y", "XY", "MT";
        "" where the file maps the call nowhere; AncestryDNA's numbers translated), position
        (int64, as the company writes it, GRCh37 for most; 0 where not given).
    allele1, allele2 : (m,) str; "" where the call is missing; ``allele2`` is "" for a haploid
        call (one allele: men on X / Y / MT in 23andMe files).
    source : the format read ("23andme", "ancestrydna", "ftdna", "myheritage", ..., "generic";
        see the module notes); path : the file read.
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


class _Refused(GenofaceError):
    """A file this reader does not read; ``kind`` says what it is ("vcf", "bcf", "plink",
    "fasta", "binary", "empty", "unknown", or a consumer format with no calls)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class _Layout:
    """Where and how the calls of a file are written."""

    source: str
    sep: str  # "whitespace" (runs of tabs/spaces), "comma" (quoted CSV) or "tab"
    width: int  # fields per line
    cols: dict[str, int]  # role -> column: id, id2, chrom, pos, genotype | allele1 + allele2, sample
    header: tuple[str, ...] | None  # the header's cells, to skip repeated header lines
    start: int = -1  # offset in the text of the line after the header (-1: no calls in the text)
    first_line: int = 0  # file line number of that line
    doubled_quotes: bool = False  # MyHeritage's '"rs1"",""1""...' lines
    banner: list[str] = field(default_factory=list)


def raw_data_person(file_name: str) -> str:
    """Whom a raw-data file holds, by its name: the name without its extensions (the files name
    no person inside; "jane_doe.txt.gz" is "jane_doe")."""
    name = file_name
    for ext in (".gz", ".zip", ".txt", ".csv", ".tsv"):
        name = name.removesuffix(ext)
    return name or "person"


def read_consumer_file(path: str | os.PathLike) -> ConsumerGenotypes:
    """Parse a consumer raw-data file (23andMe, AncestryDNA, FTDNA, MyHeritage, LivingDNA, ...;
    the module notes list them), plain, gzip or a one-file zip; the format is told from the
    content.

    A file that is no such table (VCF, PLINK, FASTA, empty, ...) is refused, and every malformed
    line is refused with a :class:`GenofaceError` that names the file and line.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "no such file"
        raise GenofaceError(f"{path}: {what}; give a 23andMe, AncestryDNA (or other) raw-data file")
    try:
        _sniff(_decode(_read_bytes(path, head=_HEAD), path, head=True)[0], path, head=True)
    except _Refused as e:  # a VCF, BCF, PLINK, FASTA or binary file: refused before reading it all
        if e.kind in NOT_CONSUMER | {"binary", "fasta"}:
            raise
    except (GenofaceError, OSError, ValueError):
        pass  # said below, from the whole file
    try:
        data = _read_bytes(path)
    except OSError as e:
        raise GenofaceError(f"{path}: cannot read it ({e.strerror or e})") from None
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    text, encoding = _decode(data, path)
    layout = _sniff(text, path)
    body_text = text[layout.start :]
    body = data[len(text[: layout.start].encode(encoding)) :]
    try:
        rsid, chrom, pos, a1, a2 = _parse(body, body_text, encoding, layout, path)
    except GenofaceError:
        raise
    except (ValueError, TypeError, OverflowError, KeyError, IndexError, csv.Error) as e:  # a reader's surprise
        raise GenofaceError(
            f"{path}: cannot read it as a {layout.source} raw-data file ({type(e).__name__}: {e}); "
            "check that the file is complete and as downloaded"
        ) from None
    if not len(rsid):
        raise GenofaceError(
            f"{path}: {layout.source} file with no genotype lines; is it the complete raw-data download?"
        )
    return ConsumerGenotypes(
        sample_id=raw_data_person(path.name),
        rsid=rsid,
        chrom=chrom,
        pos=pos,
        allele1=a1,
        allele2=a2,
        source=layout.source,
        path=str(path),
    )


def detect_format(path: str | os.PathLike) -> str:
    """What a genotype file is, from its first bytes: a consumer format's name ("23andme",
    "ancestrydna", ..., "generic"), one of :data:`NOT_CONSUMER` ("vcf", "bcf", "plink": read by
    :func:`genoface.io.read_genotypes`), or "unknown" (unreadable, or no format detected)."""
    path = Path(path)
    try:
        if path.suffix.lower() in (".bed", ".bim", ".fam", ".pgen", ".pvar", ".psam"):
            return "plink"  # PLINK's text pieces carry no signature: their names tell
        text, _ = _decode(_read_bytes(path, head=_HEAD), path, head=True)
        return _sniff(text, path, head=True).source
    except _Refused as e:
        return e.kind if e.kind in NOT_CONSUMER else "unknown"
    except (GenofaceError, OSError, ValueError):
        return "unknown"


# ---- bytes and text ------------------------------------------------------------------------------


def _read_bytes(path: Path, head: int | None = None) -> bytes:
    """The file's bytes, gunzipped or unzipped (one member); only about ``head`` bytes if given."""
    with open(path, "rb") as fh:
        magic = fh.read(4)
        fh.seek(0)
        if magic[:2] == b"\x1f\x8b":
            return _gunzip(fh.read() if head is None else fh.read(head * 4 + 4096), path, head)
        if magic in (b"PK\x03\x04", b"PK\x05\x06"):
            return _unzip(path, head)
        return fh.read() if head is None else fh.read(head)


def _gunzip(raw: bytes, path: Path, head: int | None) -> bytes:
    """gzip data, several concatenated members included (FTDNA); bytes after the last member
    that are no gzip member are ignored."""
    out: list[bytes] = []
    total = 0
    while raw:
        d = zlib.decompressobj(31)
        try:
            out.append(d.decompress(raw, 0 if head is None else max(head - total, 1)))
        except zlib.error as e:
            raise GenofaceError(f"{path}: damaged gzip data ({e}); download the file again") from None
        total += len(out[-1])
        if head is not None and (total >= head or not d.eof):
            break
        if not d.eof:
            raise GenofaceError(f"{path}: the gzip data is cut short; download the file again")
        raw = d.unused_data
        if raw and raw[:2] != b"\x1f\x8b":
            log.warning("%s: %d bytes after the gzip data ignored", path, len(raw))
            break
    return b"".join(out)


def _unzip(path: Path, head: int | None) -> bytes:
    try:
        with zipfile.ZipFile(path) as z:
            members = [
                m
                for m in z.infolist()
                if not m.is_dir()
                and not m.filename.startswith("__MACOSX/")
                and not Path(m.filename).name.startswith(".")
            ]
            if len(members) != 1:
                names = ", ".join(m.filename for m in members[:5]) + (", ..." if len(members) > 5 else "")
                raise GenofaceError(
                    f"{path}: a zip archive of {len(members)} files ({names or 'none'}), no format detected; "
                    "a raw-data download holds one: unzip it and give the raw-data file"
                )
            with z.open(members[0]) as f:
                data = f.read() if head is None else f.read(head)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as e:
        raise GenofaceError(
            f"{path}: damaged or unsupported zip archive ({e}); download it again or unzip it"
        ) from None
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data, path, head)
    return data


def _decode(data: bytes, path: Path, head: bool = False) -> tuple[str, str]:
    """(text, encoding): UTF-8 (a byte-order mark dropped), else Latin-1; binary files refused."""
    if data[:4] == b"BCF\x02" or data[:4] == b"BCF\x01":
        raise _Refused(
            "bcf",
            f"{path}: a BCF file, not a consumer raw-data file; give it as genotypes (--genotypes): VCF/BCF files are read by the VCF reader",
        )
    if data[:3] == b"\x6c\x1b\x01":
        raise _Refused(
            "plink",
            f"{path}: a PLINK .bed file, not a consumer raw-data file; give the .bed (with its .bim and .fam beside it) as genotypes",
        )
    if b"\x00" in data:
        raise _Refused(
            "binary",
            f"{path}: not a text file, no format detected; give the raw-data text file (or the .zip / .gz as downloaded)",
        )
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as e:
        if head and e.start >= len(data) - 4:  # a character cut by the head
            return data[: e.start].decode("utf-8"), "utf-8"
        return data.decode("latin-1"), "latin-1"


# ---- telling the format --------------------------------------------------------------------------


def _lines(text: str, start: int = 0, lineno: int = 0):
    """(line number, start offset, line) from ``start`` on, line ends of any kind."""
    pos = start
    for m in _NEWLINE.finditer(text, start):
        lineno += 1
        yield lineno, pos, text[pos : m.start()]
        pos = m.end()
    if pos < len(text):
        yield lineno + 1, pos, text[pos:]


def _norm(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _split(line: str, sep: str) -> list[str]:
    """The cells of one line (quotes of quoted CSV removed)."""
    if sep == "whitespace":  # runs of tabs and spaces, as pandas' "\s+"
        return [c for c in _BLANKS.split(line) if c]
    if sep == "tab":
        return [f.strip() for f in line.split("\t")]
    if '"' not in line:
        return [f.strip() for f in line.split(",")]
    try:
        return [f.strip() for f in next(csv.reader([line], skipinitialspace=True))]
    except (csv.Error, StopIteration):
        return [f.strip().strip('"') for f in line.split(",")]


def _header_cells(line: str) -> tuple[list[str], str]:
    """A possible header line's cells and separator: tab (when its names hold spaces, the data
    is tab-separated too), comma, else runs of whitespace."""
    line = line.strip().lstrip("#").strip()
    if "\t" in line:
        cells = [c.strip().strip('"') for c in line.split("\t")]
        if sum(_norm(c) in _ROLE_NAMES for c in cells) >= 2:
            return cells, "tab" if any(" " in c for c in cells) else "whitespace"
    if "," in line:
        cells = [c.strip().strip('"') for c in line.split(",")]
        if sum(_norm(c) in _ROLE_NAMES for c in cells) >= 2:
            return cells, "comma"
    return [c.strip('"') for c in line.split()], "whitespace"


def _is_header(cells: list[str]) -> bool:
    names = [_norm(c) for c in cells]
    return sum(n in _ROLE_NAMES for n in names) >= 2 and any(n in _ID_NAMES or n in _CHROM_NAMES for n in names)


def _looks_like_call(cells: list[str]) -> bool:
    """``rsid chromosome position genotype`` (or two alleles), as a headerless file starts."""
    return len(cells) in (4, 5) and _chrom_value(cells[1]) is not None and _position_value(cells[2]) is not None


def _sniff(text: str, path: Path, head: bool = False) -> _Layout:
    """The layout of a raw-data file's text; files of other kinds refused (:class:`_Refused`)."""
    lines = _lines(text)
    banner, illumina, first = _banner_lines(lines, path)
    source = _banner_source(banner, illumina)
    if first is None:
        return _layout_without_lines(text, path, head, source, banner)
    lineno, start, s = first
    if s.startswith(">"):
        raise _Refused(
            "fasta",
            f"{path}: a FASTA sequence file, not genotype calls; give the raw-data file of your calls (or a VCF)",
        )
    cells, hsep = _header_cells(s)
    if illumina or _is_header(cells):  # the first line is the header: the calls follow it
        header = cells
        data = next(((n, p, ln) for n, p, ln in lines if ln.strip() and not ln.lstrip().startswith("#")), None)
        body_start, body_line = _next_line_start(text, start), lineno + 1
    else:  # the first line is a call; a header, if any, is the last comment line
        header, hsep = _banner_header(banner)
        data = (lineno, start, s)
        body_start, body_line = start, lineno
    if data is None:
        if head:
            return _Layout(
                source or "generic", hsep or "whitespace", len(header or ()), {}, tuple(header or ()), banner=banner
            )
        raise _Refused(
            source or "unknown",
            f"{path}: {source or 'generic'} file with no genotype lines; is it the complete raw-data download?",
        )
    d_line, d_text = data[0], data[2].strip()
    doubled = '"",""' in d_text
    if doubled:
        d_text = d_text.replace('""', '"')
    sep = _data_separator(d_text, hsep)
    fields = _split(d_text, sep)
    cols = _headerless_columns(fields, d_line, d_text, path) if header is None else _columns(header, path, lineno)
    width = len(fields)
    if max(cols.values()) >= width:
        raise GenofaceError(
            f"{path}, line {d_line}: {width} columns where the header names {len(header or ())} "
            f"({', '.join((header or [])[:8])}); fix the file or give it as downloaded"
        )
    source = source or _header_source(header) or "generic"
    return _Layout(source, sep, width, cols, tuple(header) if header else None, body_start, body_line, doubled, banner)


def _banner_lines(lines, path: Path) -> tuple[list[str], bool, tuple[int, int, str] | None]:
    """Read ``lines`` (from :func:`_lines`) up to the first line of the table: (the comment lines
    or the [Header] section of an Illumina report, whether it is one, (line number, offset,
    stripped line) of that first line or None); a VCF is refused."""
    banner: list[str] = []
    illumina = False
    for lineno, start, line in lines:
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            low = s.lower()
            if low.startswith("##fileformat=vcf") or re.match(r"#chrom\s+pos\s+id\s+ref\s+alt", low):
                raise _Refused(
                    "vcf",
                    f"{path}: a VCF file, not a consumer raw-data file; give it as genotypes (--genotypes): "
                    "VCF/BCF files are read by the VCF reader",
                )
            banner.append(s.lstrip("#").strip())
            continue
        if s.startswith("[Header]") and not banner:  # an Illumina final report
            illumina = True
            for _, _, section_line in lines:
                if section_line.strip().startswith("[Data]"):
                    break
                banner.append(section_line.strip())
            else:
                raise _Refused(
                    "unknown",
                    f"{path}: an Illumina report without a [Data] section, no format detected; give the complete raw-data file",
                )
            continue
        return banner, illumina, (lineno, start, s)
    return banner, illumina, None


def _layout_without_lines(text: str, path: Path, head: bool, source: str | None, banner: list[str]) -> _Layout:
    """A text with no line besides its comments: the banner's layout when only the head was read
    and it names a company, else refused."""
    if head and source:
        return _Layout(source, "whitespace", 4, {}, None, banner=banner)
    if not text.strip():
        raise _Refused("empty", f"{path}: the file is empty, no format detected; download the raw data again")
    what = f"{source} file with no genotype lines" if source else "no genotype lines, no format detected"
    raise _Refused(source or "unknown", f"{path}: {what}; is it the complete raw-data download?")


def _banner_header(banner: list[str]) -> tuple[list[str] | None, str | None]:
    """(cells, separator) of the last comment line where it is a column header, else (None, None)."""
    if banner:
        cells, sep = _header_cells(banner[-1])
        if _is_header(cells):
            return cells, sep
    return None, None


def _data_separator(line: str, header_sep: str | None) -> str:
    """How the first data line's cells are separated: as the header's, else comma where that
    gives 4 or 5 cells of a tab-less line, else whitespace."""
    if header_sep is not None:
        return header_sep if header_sep in ("comma", "tab") else "whitespace"
    if "\t" not in line and "," in line and len(_split(line, "comma")) in (4, 5):
        return "comma"
    return "whitespace"


def _headerless_columns(fields: list[str], lineno: int, line: str, path: Path) -> dict[str, int]:
    """Role -> column of a file without a header, from its first data line (``fields`` its
    cells): ``rsid chromosome position`` and a genotype or two alleles; other files refused."""
    if not _looks_like_call(fields):
        if len(fields) == 6 and _chrom_value(fields[0]) is not None and _POSITION.fullmatch(fields[3]):
            raise _Refused(
                "plink",
                f"{path}: a PLINK .bim file, not a consumer raw-data file; give the .bed of its fileset as genotypes",
            )
        raise _Refused(
            "unknown",
            f"{path}, line {lineno}: no format detected: {line[:80]!r} is neither a column header "
            "(rsid, chromosome, position, genotype) nor a genotype line; give the raw-data file as downloaded "
            "(23andMe, AncestryDNA, FTDNA, MyHeritage, LivingDNA, ...)",
        )
    return {"id": 0, "chrom": 1, "pos": 2} | ({"genotype": 3} if len(fields) == 4 else {"allele1": 3, "allele2": 4})


def _next_line_start(text: str, start: int) -> int:
    m = _NEWLINE.search(text, start)
    return len(text) if m is None else m.end()


def _columns(header: list[str], path: Path, lineno: int) -> dict[str, int]:
    """Role -> column of a header's cells; a header naming no genotype column is refused."""
    names = [_norm(c) for c in header]

    def find(options) -> int | None:
        return next((names.index(o) for o in options if o in names), None)

    cols: dict[str, int] = {}
    ids = [names.index(o) for o in _ID_NAMES if o in names]
    if ids:
        cols["id"] = ids[0]
        if len(ids) > 1:
            cols["id2"] = ids[1]  # where the first is empty ("." rsIDs of an Illumina report)
    for role, options in (("chrom", _CHROM_NAMES), ("pos", _POS_NAMES), ("sample", _SAMPLE_NAMES)):
        j = find(options)
        if j is not None:
            cols[role] = j
    pair = next((s for s in _ALLELE_STRANDS if f"allele1{s}" in names and f"allele2{s}" in names), None)
    gt = find(_GT_NAMES)
    if gt is not None and (pair is None or _ALLELE_STRANDS.index(pair) >= 2):  # + strand pairs before genotypes
        cols["genotype"] = gt
    elif pair is not None:
        cols["allele1"], cols["allele2"] = names.index(f"allele1{pair}"), names.index(f"allele2{pair}")
    if (
        "genotype" not in cols
        and "allele1" not in cols
        and cols.get("id") == 0
        and cols.get("chrom") == 1
        and cols.get("pos") == 2
    ):
        if len(header) == 4:  # "rsid chromosome position <any name>"
            cols["genotype"] = 3
        elif len(header) == 5:
            cols["allele1"], cols["allele2"] = 3, 4
    if ("genotype" not in cols and "allele1" not in cols) or ("id" not in cols and not {"chrom", "pos"} <= set(cols)):
        shown = ", ".join(header[:10]) + (", ..." if len(header) > 10 else "")
        raise _Refused(
            "unknown",
            f"{path}, line {lineno}: no format detected: the header ({shown}) names no "
            + (
                "genotype (or allele1, allele2) column"
                if "id" in cols or "chrom" in cols
                else "id or chromosome column"
            )
            + "; give a raw-data file with rsid, chromosome, position and genotype columns",
        )
    return cols


def _banner_source(banner: list[str], illumina: bool) -> str | None:
    """The company named in the comment lines (the first line decides first)."""
    if not banner:
        return None
    if illumina:
        text = " ".join(banner).lower()
        return "codigo46" if "codigo46" in text else "sano" if "sano" in text else "illumina"
    first, everything = banner[0].lower(), " ".join(banner).lower()
    for text in (first, everything):
        for key, source in _BANNER_SOURCES:
            if key in text:
                return source
        if text is first and first.startswith("circle"):
            return "circledna"
    if "below is a text version of your data" in everything:
        return "plink23"  # plink --recode 23 writes 23andMe's banner without the company
    return None


def _header_source(header: list[str] | None) -> str | None:
    if header is None:
        return None
    names = [_norm(c) for c in header]
    if header[:4] == ["RSID", "CHROMOSOME", "POSITION", "RESULT"]:
        return "ftdna"
    if names[:2] in (["snpname", "rsid"], ["snpname", "sampleid"]) and any(n.startswith("allele1") for n in names):
        return "mapmygenome"
    if header == ["rsid", "Chromosome", "position", "genotype"]:
        return "tellmegen"
    if "allele_1" in header and "allele_2" in header:
        return "sano"
    if names[:4] == ["markername", "chrom", "pos", "gt"]:
        return "circledna"
    return None


# ---- reading the calls ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _chrom_value(cell: str) -> str | None:
    """Canonical chromosome of a cell, "" where not mapped, None where not a chromosome."""
    s = cell.strip().strip('"')
    if s.upper() in _UNMAPPED:
        return ""
    c = normalize_chrom(s)
    return c if c in _CANONICAL else None


@functools.lru_cache(maxsize=4096)
def _genotype_value(cell: str) -> tuple[str, str] | None:
    """(allele1, allele2) of a genotype cell, ("", "") for a no-call, None where malformed."""
    s = cell.strip().strip('"').upper()
    if "/" in s or "|" in s:  # "A/G"; indels of sequencing-based files as "A/AT"
        parts = [p.strip() for p in re.split(r"[/|]", s)]
        if len(parts) != 2:
            return None
        if parts[0] in _NO_ALLELE or parts[1] in _NO_ALLELE:
            return "", ""
        ok = all(p in _ALLELES or _SEQUENCE.fullmatch(p) for p in parts)
        return (parts[0], parts[1]) if ok else None
    s = s.replace(" ", "")
    if s in _NO_CALLS:
        return "", ""
    if 1 <= len(s) <= 2 and set(s) <= _ALLELES:
        return s[0], s[1:]
    return None


@functools.lru_cache(maxsize=4096)
def _allele_value(cell: str) -> str | None:
    """An allele cell: the allele, "" for a no-call, None where malformed."""
    s = cell.strip().strip('"').upper()
    if s in _NO_ALLELE:
        return ""
    return s if s in _ALLELES else None


def _position_value(cell: str) -> int | None:
    s = cell.strip().strip('"')
    if s in _UNKNOWN_POS:
        return 0
    return int(s) if _POSITION.fullmatch(s) else None


def _parse(body: bytes, body_text: str, encoding: str, lay: _Layout, path: Path):
    """The calls of the table that starts at ``body``: (rsid, chrom, pos, allele1, allele2)."""
    cols = lay.cols
    if lay.doubled_quotes:
        body = body.replace(b'""', b'"')
    df = _read_table(body, body_text, encoding, lay, path)
    if df is None:
        return tuple(np.array([], dtype=t) for t in (str, str, np.int64, str, str))
    table = _Table(df, cols)
    ids = table.text("id")
    chrom, bad_chrom, chrom_blank, repeated_header = _chromosomes(table, ids, lay.header)
    pos, bad_pos, pos_blank = _positions(table)
    a1, a2, bad_call, call_blank = _calls(table)
    empty = ids == ""
    short = np.zeros(len(df), dtype=bool)  # a required cell empty: a line of too few columns, or an empty cell
    for blank in (chrom_blank, pos_blank, call_blank):
        if blank is not None:
            empty &= blank
            short |= blank
    keep = ~repeated_header & ~empty  # blank lines pandas did not skip
    short &= keep
    bad = (bad_chrom | bad_pos | bad_call) & keep
    if bad.any() or short.any():  # raises, naming the line; short cells of a CSV may be empty cells
        _explain(body, encoding, body_text, np.flatnonzero(bad | short), bad, ids, lay, path)
    if "sample" in cols:
        names = pd.unique(df[cols["sample"]].to_numpy(dtype=object)[keep])
        if len(names) > 1:
            raise GenofaceError(
                f"{path}: a {lay.source} report of {len(names)} samples ({', '.join(map(str, names[:3]))}, ...); "
                "a raw-data file holds one person: export one sample"
            )
    if "id2" in cols:  # Illumina: the rsID where the report gives one, else the SNP name
        ids = np.where((ids == "") | (ids == "."), table.text("id2"), ids)
    if "chrom" not in cols and keep.any():  # GSA names such as "1:101" give the place
        chrom, pos = _places_from_names(ids, chrom, pos, has_pos="pos" in cols)
    ids, chrom, pos, a1, a2 = (v[keep] for v in (ids, chrom, pos, a1, a2))
    if _may_name_several(body, lay.sep):
        ids, chrom, pos, a1, a2 = _split_multi_ids(ids, chrom, pos, a1, a2)
    return ids.astype(str), chrom.astype(str), pos.astype(np.int64, copy=False), a1.astype(str), a2.astype(str)


def _read_options(lay: _Layout, encoding: str) -> tuple[dict[int, object], dict]:
    """``pd.read_csv``'s dtype per column (ids as objects, positions int64, chromosome and call
    cells as categories) and its other arguments, for the layout."""
    dtype: dict[int, object] = {}
    for role, j in lay.cols.items():
        dtype[j] = object if role in ("id", "id2") else np.int64 if role == "pos" else "category"
    kw: dict = dict(
        header=None,
        names=list(range(lay.width)),
        na_filter=False,
        comment="#",
        skip_blank_lines=True,
        engine="c",
        encoding=encoding,
        index_col=False,
    )
    if lay.width > _NARROW:
        kw["usecols"] = sorted(set(lay.cols.values()))
    if lay.sep == "whitespace":
        kw.update(sep=r"\s+", quoting=csv.QUOTE_NONE)
    elif lay.sep == "tab":
        kw.update(sep="\t", quoting=csv.QUOTE_NONE, skipinitialspace=True)
    else:
        kw.update(sep=",", quotechar='"', skipinitialspace=True)
    return dtype, kw


def _read_table(body: bytes, body_text: str, encoding: str, lay: _Layout, path: Path) -> pd.DataFrame | None:
    """The table of ``body`` read by pandas' C reader (:func:`_read_options`); None where it
    holds no data. A line pandas cannot read is refused, naming it."""
    dtype, kw = _read_options(lay, encoding)
    df = None
    for attempt in range(2):
        try:
            with warnings.catch_warnings():  # pandas warns where the first line is longer than the header
                warnings.simplefilter("error", pd.errors.ParserWarning)
                df = pd.read_csv(io.BytesIO(body), dtype=dtype, **kw)
            break
        except pd.errors.ParserWarning as e:
            _first_bad_line(body_text, lay, path)  # raises, naming the line
            raise GenofaceError(
                f"{path}: cannot read it as a {lay.source} raw-data file ({e}); check the file is complete"
            ) from None
        except pd.errors.EmptyDataError:
            return None
        except pd.errors.ParserError as e:
            m = re.search(r"Expected \d+ fields in line (\d+), saw (\d+)", str(e))
            if m and lay.width <= _NARROW:
                lineno = lay.first_line + int(m.group(1)) - 1
                raise GenofaceError(
                    f"{path}, line {lineno}: {m.group(2)} columns where this {lay.source} file has {lay.width}; "
                    "fix or remove the line"
                ) from None
            _first_bad_line(body_text, lay, path)  # raises, naming the line
            raise GenofaceError(
                f"{path}: cannot read it as a {lay.source} raw-data file ({e}); check the file is complete"
            ) from None
        except (ValueError, OverflowError):
            if attempt or "pos" not in lay.cols:
                raise
            dtype[lay.cols["pos"]] = object  # a position that is no integer ("--"): checked below
    assert df is not None
    return df


@dataclass
class _Table:
    """The cells pandas read, by role (``cols``: role -> column)."""

    df: pd.DataFrame
    cols: dict[str, int]

    def text(self, role: str) -> np.ndarray:
        """The role's cells as objects; "" for all where the file has no such column."""
        if role in self.cols:
            return self.df[self.cols[role]].to_numpy(dtype=object)
        return np.full(len(self.df), "", dtype=object)

    def categories(self, role: str) -> tuple[np.ndarray, list[str]]:
        """(category code per row, the distinct cells) of the role's column."""
        cat = self.df[self.cols[role]].astype("category")
        return cat.cat.codes.to_numpy(), [str(c) for c in cat.cat.categories]


def _each_category(codes: np.ndarray, cats: list[str], decode) -> tuple[list, np.ndarray, np.ndarray]:
    """``decode`` of each distinct cell (each decoded once), and per row whether its cell is
    malformed (decoded to None) or blank."""
    values = [decode(c) for c in cats]
    bad = np.array([v is None for v in values], dtype=bool)[codes]
    blank = np.array([c.strip() == "" for c in cats], dtype=bool)[codes]
    return values, bad, blank


def _chromosomes(table: _Table, ids: np.ndarray, header: tuple[str, ...] | None):
    """(chromosome, malformed, blank or None, a repeated header line) per row."""
    cols, n = table.cols, len(table.df)
    if "chrom" not in cols:
        return np.full(n, "", dtype="<U2"), np.zeros(n, dtype=bool), None, np.zeros(n, dtype=bool)
    codes, cats = table.categories("chrom")
    values, bad, blank = _each_category(codes, cats, _chrom_value)
    chrom = np.array([v or "" for v in values], dtype=str)[codes]
    repeated = np.zeros(n, dtype=bool)
    if header is not None and "id" in cols and header[cols["chrom"]] in cats:
        repeated = (ids == header[cols["id"]]) & (codes == cats.index(header[cols["chrom"]]))
    return chrom, bad, blank, repeated


def _positions(table: _Table):
    """(position, malformed, blank or None) per row: int64 as read, else checked cell by cell."""
    n = len(table.df)
    if "pos" not in table.cols:
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool), None
    col = table.df[table.cols["pos"]]
    if col.dtype == np.int64:
        pos = col.to_numpy(dtype=np.int64)
        return pos, pos < 0, None
    s = pd.Series(col.to_numpy(dtype=object), dtype=object).str.strip()
    unknown = s.isin(_UNKNOWN_POS).to_numpy()
    digits = s.str.fullmatch(_POSITION.pattern).fillna(False).to_numpy(dtype=bool)
    pos = np.zeros(n, dtype=np.int64)
    pos[digits] = s[digits].astype(np.int64).to_numpy()
    return pos, ~(digits | unknown), (s == "").to_numpy()


def _calls(table: _Table):
    """(allele1, allele2, malformed, blank) per row, from a genotype column or two allele
    columns (either allele missing makes the call missing)."""
    if "genotype" in table.cols:
        codes, cats = table.categories("genotype")
        values, bad, blank = _each_category(codes, cats, _genotype_value)
        a1 = np.array([v[0] if v else "" for v in values], dtype=str)[codes]
        a2 = np.array([v[1] if v else "" for v in values], dtype=str)[codes]
        return a1, a2, bad, blank
    (c1, k1), (c2, k2) = table.categories("allele1"), table.categories("allele2")
    (v1, bad1, blank1), (v2, bad2, blank2) = (
        _each_category(c1, k1, _allele_value),
        _each_category(c2, k2, _allele_value),
    )
    x = np.array([v or "" for v in v1], dtype=str)[c1]
    y = np.array([v or "" for v in v2], dtype=str)[c2]
    missing = (x == "") | (y == "")
    return np.where(missing, "", x), np.where(missing, "", y), bad1 | bad2, blank1 | blank2


def _places_from_names(ids: np.ndarray, chrom: np.ndarray, pos: np.ndarray, *, has_pos: bool):
    """(chrom, pos) with the place named by ids such as "1:101" (GSA names) where one is; the
    positions only where the file has no position column (``pos`` is then updated in place)."""
    place = pd.Series(ids, dtype=object).str.extract(_CHR_POS_ID)
    found = place[0].notna().to_numpy()
    if found.any():
        chrom = chrom.copy()
        chrom[found] = [_chrom_value(c) or "" for c in place[0][found]]
        if not has_pos:
            pos[found] = place[1][found].astype(np.int64).to_numpy()
    return chrom, pos


def _may_name_several(body: bytes, sep: str) -> bool:
    """Whether an id cell may hold a comma (a quick look at the bytes before the slow one)."""
    if sep != "comma":
        return b"," in body
    return re.search(rb'"[^",\r\n]+,[^",\r\n]+"', body) is not None


def _split_multi_ids(ids, chrom, pos, a1, a2):
    """One row per id of cells naming several ("rs6,rs9"): each id finds the call."""
    s = pd.Series(ids, dtype=object)
    multi = np.flatnonzero(s.str.contains(",", regex=False).fillna(False).to_numpy(dtype=bool))
    if not len(multi):
        return ids, chrom, pos, a1, a2
    counts = np.ones(len(ids), dtype=np.int64)
    parts = {i: [p.strip() for p in ids[i].split(",") if p.strip()] or [""] for i in multi}
    for i, p in parts.items():
        counts[i] = len(p)
    rep = np.repeat(np.arange(len(ids)), counts)
    out = ids[rep].astype(object)
    starts = np.cumsum(counts) - counts
    for i, p in parts.items():
        out[starts[i] : starts[i] + len(p)] = p
    return out, chrom[rep], pos[rep], a1[rep], a2[rep]


def _explain(body: bytes, encoding: str, body_text: str, rows, bad, ids, lay: _Layout, path: Path) -> None:
    """Raise the error of the first malformed line among the data ``rows`` the fast reading
    flagged (``bad``: a malformed cell; else a cell left empty, malformed where the line has too
    few columns). Data rows are mapped to lines through the line breaks (checked by the id); where
    that fails, every line is checked."""
    a = np.frombuffer(body, dtype=np.uint8)
    ends = np.flatnonzero(a == (10 if b"\n" in body else 13))
    starts = np.concatenate([[0], ends + 1])
    ends = np.concatenate([ends, [len(a)]])
    first = a[np.minimum(starts, max(len(a) - 1, 0))] if len(a) else np.zeros(len(starts), dtype=np.uint8)
    length = ends - starts
    content = np.flatnonzero((length > 0) & ~((length == 1) & (first == 13)) & (first != ord("#")))
    id_col = lay.cols.get("id")
    for r in rows[:100_000]:
        if r >= len(content):
            break
        k = content[r]
        line = body[starts[k] : ends[k]].decode(encoding, errors="replace").rstrip("\r")
        if lay.doubled_quotes:
            line = line.replace('""', '"')
        cells = _split(line if lay.sep == "comma" else line.split("#", 1)[0], lay.sep)
        if id_col is not None and (len(cells) <= id_col or cells[id_col] != ids[r]):
            if len(cells) > id_col or ids[r] != "":
                break  # the rows are not the lines counted: check every line
        _check_line(cells, lay.first_line + int(k), lay, path)  # raises where malformed
        if bad[r]:
            break  # flagged, yet its line looks fine: check every line
    else:
        if not bad[rows].any():
            return  # empty cells of full lines: no-calls, unknown places
    _first_bad_line(body_text, lay, path)
    r = int(rows[0])
    raise GenofaceError(f"{path}: malformed call in data row {r + 1} ({ids[r]!r}); fix or remove the line")


def _first_bad_line(body_text: str, lay: _Layout, path: Path) -> None:
    """Raise the error of the first malformed line of the table (a pass line by line)."""
    for lineno, cells in _table_rows(body_text, lay, path):
        _check_line(cells, lineno, lay, path)


def _check_line(cells: list[str], lineno: int, lay: _Layout, path: Path) -> None:
    """Raise the error of one malformed line, naming the file and line."""
    cols = lay.cols
    need = max(cols.values()) + 1
    header = lay.header
    if header is not None and "id" in cols and "chrom" in cols and len(cells) >= need:
        if cells[cols["id"]] == header[cols["id"]] and cells[cols["chrom"]] == header[cols["chrom"]]:
            return  # a repeated header line
    n = len(cells)
    if (lay.width <= _NARROW and n != lay.width) or n < need:
        raise GenofaceError(
            f"{path}, line {lineno}: {n} columns where this {lay.source} file has {lay.width}; fix or remove the line"
        )
    if "chrom" in cols and _chrom_value(cells[cols["chrom"]]) is None:
        raise GenofaceError(
            f"{path}, line {lineno}: unknown chromosome {cells[cols['chrom']]!r}; expected 1-22, X, Y, XY or MT"
        )
    if "pos" in cols and _position_value(cells[cols["pos"]]) is None:
        raise GenofaceError(f"{path}, line {lineno}: position {cells[cols['pos']]!r} is not a non-negative integer")
    if "genotype" in cols and _genotype_value(cells[cols["genotype"]]) is None:
        raise GenofaceError(
            f"{path}, line {lineno}: genotype {cells[cols['genotype']]!r} is not two alleles of A/C/G/T/D/I "
            "or a no-call ('--')"
        )
    if "allele1" in cols:
        x, y = cells[cols["allele1"]], cells[cols["allele2"]]
        if _allele_value(x) is None or _allele_value(y) is None:
            raise GenofaceError(f"{path}, line {lineno}: alleles {x!r} {y!r} are not A/C/G/T/D/I or a no-call (0, -)")


def _table_rows(body_text: str, lay: _Layout, path: Path):
    """(file line number, cells) of the table's lines, blank and comment lines skipped."""
    if lay.sep == "comma":  # the csv module reads quoted cells as pandas does, in C
        if lay.doubled_quotes:
            body_text = body_text.replace('""', '"')
        reader = csv.reader(io.StringIO(body_text, newline=""), skipinitialspace=True)
        while True:
            lineno = lay.first_line + reader.line_num  # where the next record starts
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                raise GenofaceError(f"{path}, line {lineno}: {e}; fix or remove the line") from None
            if cells and not cells[0].lstrip().startswith("#") and any(c.strip() for c in cells):
                yield lineno, [c.strip() for c in cells]
    for lineno, _, line in _lines(body_text, 0, lay.first_line - 1):
        content = line.split("#", 1)[0]
        if content.strip():
            yield lineno, _split(content, lay.sep)


def match_to_panel(
    consumer: ConsumerGenotypes | str | os.PathLike,
    panel_variants: pd.DataFrame,
    *,
    ambiguous: str = "drop",
) -> tuple[np.ndarray, MatchReport]:
    """Dosages of one person at the panel's variants (of its ALT, the counted allele) and the
    match report, through the allele matcher (:func:`genoface.genetics._alleles.match_calls`):
    found by rsID, else by chromosome and position; strand resolved for non-palindromic SNPs;
    A/T and C/G SNPs dropped (``ambiguous="drop"``, the default: the files do not state their
    strand) or read as written (``"keep"``: both companies report the GRCh37 forward strand).
    """
    if not isinstance(consumer, ConsumerGenotypes):
        consumer = read_consumer_file(consumer)
    return match_calls(
        panel_variants,
        consumer.rsid,
        consumer.chrom,
        consumer.pos,
        consumer.allele1,
        consumer.allele2,
        ambiguous=ambiguous,
        source=consumer.path or consumer.sample_id,
    )


def read_consumer_genotypes(
    path: str | os.PathLike, panel_variants: pd.DataFrame, *, ambiguous: str = "drop"
) -> GenotypeData:
    """A consumer raw-data file as a one-sample :class:`GenotypeData` over the panel's variants
    (their chrom, pos, id, ref, alt), -1 where not called or not matched; the match report is
    logged (:func:`consumer_genotype_data` returns it)."""
    data, report = consumer_genotype_data(path, panel_variants, ambiguous=ambiguous)
    log.info("%s", report.summary())
    return data


def consumer_genotype_data(
    path: str | os.PathLike | ConsumerGenotypes, panel_variants: pd.DataFrame, *, ambiguous: str = "drop"
) -> tuple[GenotypeData, MatchReport]:
    """:func:`read_consumer_genotypes` and the match report of :func:`match_to_panel`; ``path``
    may be the file already parsed (:func:`read_consumer_file`), read once for several panels."""
    calls = path if isinstance(path, ConsumerGenotypes) else read_consumer_file(path)
    path = calls.path or calls.sample_id
    dosage, report = match_to_panel(calls, panel_variants, ambiguous=ambiguous)
    if report.n_absent == report.n_panel:
        raise GenofaceError(
            f"{path}: none of the panel's {report.n_panel:,} variants is in the file (by rsID or position); "
            "are the panel ids rsIDs, and the positions on the file's genome build?"
        )
    variants = panel_table(panel_variants)
    if (variants["pos"] == 0).all():  # a panel of ids only: take positions from the file
        j = _first_index(calls.rsid, variants["id"].to_numpy(dtype=str))
        variants = variants.assign(chrom=np.where(j >= 0, calls.chrom[j], ""), pos=np.where(j >= 0, calls.pos[j], 0))
    variants = variants.astype({"ref": str, "alt": str})
    return GenotypeData(np.array([calls.sample_id]), dosage[None, :], variants), report


def _first_index(keys: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Position of each query in ``keys`` (its first occurrence), -1 where absent."""
    s = pd.Series(np.arange(len(keys)), index=pd.Index(keys))
    s = s[~s.index.duplicated()]
    return s.reindex(pd.Index(query)).fillna(-1).to_numpy(dtype=np.int64)
