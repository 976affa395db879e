"""Polygenic scores from PGS Catalog scoring files.

A scoring file (PGS Catalog scoring file format 2.0, plain or gzip) lists variants with an
effect allele and a weight; a person's score is the sum over variants of the dosage of the
effect allele times its weight (pgsc_calc's ``SUM``)::

    ###PGS CATALOG SCORING FILE - see https://www.pgscatalog.org/downloads/#dl_ftp_scoring
    #pgs_id=PGS000001
    #genome_build=GRCh37
    #HmPOS_build=GRCh38                                       (harmonized files only)
    rsID  chr_name  chr_position  effect_allele  other_allele  effect_weight  [hm_rsID hm_chr hm_pos ...]

Only additive weights are scored; files with haplotype, diplotype, interaction, dominant,
recessive or genotype-specific (``dosage_*_weight``) weights are refused.

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
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from genoface.errors import GenofaceError
from genoface.genetics._consumer import _COMPLEMENT
from genoface.io.genotypes import GenotypeData

log = logging.getLogger(__name__)

#: How strand-ambiguous (A/T, C/G) SNPs are treated by :func:`score`.
AMBIGUOUS_POLICIES = ("drop", "keep")
#: Columns of :attr:`ScoringFile.variants`, in this order.
SCORING_COLUMNS = ("id", "chrom", "pos", "effect_allele", "other_allele", "weight", "allele_frequency")

_EMPTY = frozenset({"", ".", "NA"})  # placeholders for "no value" in locator and allele columns
_TRUE = frozenset({"true", "t", "1", "yes"})
_NON_ADDITIVE = {
    "is_haplotype": "haplotype",
    "is_diplotype": "diplotype",
    "is_interaction": "interaction",
    "is_dominant": "dominant",
    "is_recessive": "recessive",
}
_CHROM_ALIASES = {"23": "X", "24": "Y", "25": "XY", "26": "MT", "M": "MT"}
_BUILD_ALIASES = {"HG19": "GRCH37", "HG38": "GRCH38", "HG18": "NCBI36", "GRCH36": "NCBI36"}
# Genotype entries (samples x variants) converted to float64 per step: ~32 MB, so a cohort of
# 10k people and a score of 1M variants never needs the whole float matrix at once.
_BLOCK_ELEMENTS = 1 << 22
# Below this many samples a mean dosage from the genotypes is a poor frequency estimate.
_FEW_SAMPLES = 50


@dataclass
class ScoringFile:
    """A PGS Catalog scoring file, one row per variant.

    Attributes
    ----------
    path : the file read.
    metadata : the ``#key=value`` header lines (pgs_id, pgs_name, trait_reported, genome_build,
        HmPOS_build, variants_number, weight_type, ...), values as written.
    variants : DataFrame with columns id (rsID, "" unknown), chrom ("1".."22", "X", "Y", "XY",
        "MT"; "" unknown), pos (int64, 0 unknown), effect_allele, other_allele ("" unknown),
        weight (float64), allele_frequency (float64 frequency of the effect allele, NaN where
        not given). Harmonized columns (hm_rsID, hm_chr, hm_pos) are used where filled.
    positions_build : genome build of ``pos``: HmPOS_build when the harmonized positions were
        used, else genome_build ("" if the file does not say).
    """

    path: str
    metadata: dict[str, str]
    variants: pd.DataFrame
    positions_build: str = ""

    @property
    def n_variants(self) -> int:
        return len(self.variants)

    @property
    def pgs_id(self) -> str:
        return self.metadata.get("pgs_id", "")


# ---- reading --------------------------------------------------------------------------------------


def read_scoring_file(path: str | os.PathLike) -> ScoringFile:
    """Read a PGS Catalog scoring file (``.txt`` or ``.txt.gz``).

    Raises a one-line :class:`GenofaceError` naming the file (and line, where there is one) for
    a missing required column (effect_allele, effect_weight, and rsID or chr_name +
    chr_position or their hm_ versions), a weight, position or frequency that is not a number,
    an empty table, and non-additive weights (is_haplotype / is_diplotype / is_interaction /
    is_dominant / is_recessive true, or dosage_*_weight columns), which are refused rather than
    scored additively.
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
    if expected.isdigit() and int(expected) != len(variants):
        log.warning("%s: the header says %s variants but the table has %d", path, expected, len(variants))
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
            if not line.startswith("##") and "=" in line:
                key, _, value = line[1:].partition("=")
                metadata[key.strip()] = value.strip()
            continue
        if not line.strip():
            continue
        columns = [c.strip() for c in line.split("\t")]
        dups = sorted({c for c in columns if columns.count(c) > 1})
        if dups:
            raise GenofaceError(f"{path}, line {lineno}: column(s) {dups} appear more than once in the header")
        return metadata, columns, lineno


def _read_table(fh, columns: list[str], path: Path, header_line: int) -> pd.DataFrame:
    """The rows after the header as str columns, with a ``_line`` column (file line numbers)."""
    try:
        # Blank lines are kept (then dropped) so that row k is on line header_line + 1 + k.
        df = pd.read_csv(
            fh,
            sep="\t",
            header=None,
            names=columns,
            dtype=str,
            na_filter=False,
            skip_blank_lines=False,
            quoting=csv.QUOTE_NONE,
            engine="c",
        )
    except pd.errors.ParserError:
        raise GenofaceError(
            f"{path}, line {_first_long_row(path, header_line, len(columns))}: more fields than the "
            f"{len(columns)} columns of the header on line {header_line}; fix or remove the line"
        ) from None
    df = df.fillna("")  # short rows
    df["_line"] = header_line + 1 + np.arange(len(df))
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


def _variant_table(df: pd.DataFrame, metadata: dict[str, str], path: Path, header_line: int):
    """:attr:`ScoringFile.variants` and the build of its positions, from the raw str table."""
    by_lower = {c.lower(): c for c in df.columns}
    lines = df["_line"].to_numpy()

    def col(name: str) -> pd.Series | None:
        c = by_lower.get(name.lower())
        return None if c is None else df[c].str.strip()

    genotype_weights = [c for c in df.columns if c.lower().startswith("dosage_") and c.lower().endswith("_weight")]
    if genotype_weights:
        raise GenofaceError(
            f"{path}, line {header_line}: genotype-specific weights ({', '.join(genotype_weights)}) are not "
            "supported, only additive effect_weight; use a scoring file with additive weights"
        )
    for name in ("effect_allele", "effect_weight"):
        if col(name) is None:
            raise GenofaceError(
                f"{path}, line {header_line}: no {name} column in the variant table header; "
                "a PGS Catalog scoring file needs effect_allele and effect_weight"
            )
    has_id = col("rsID") is not None or col("hm_rsID") is not None
    has_pos = (col("chr_name") is not None and col("chr_position") is not None) or (
        col("hm_chr") is not None and col("hm_pos") is not None
    )
    if not (has_id or has_pos):
        raise GenofaceError(
            f"{path}, line {header_line}: no rsID and no chr_name + chr_position columns (nor hm_rsID / "
            "hm_chr + hm_pos); variants cannot be found without one of them"
        )
    for name, kind in _NON_ADDITIVE.items():
        flag = col(name)
        if flag is not None:
            bad = flag.str.lower().isin(_TRUE).to_numpy()
            if bad.any():
                raise GenofaceError(
                    f"{path}, line {lines[bad.argmax()]}: {name} is true; {kind} weights are not supported "
                    "(only additive per-allele weights are scored); remove those variants or use another score"
                )

    raw_weight = col("effect_weight")
    weight = pd.to_numeric(raw_weight, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(weight)
    if bad.any():
        k = bad.argmax()
        raise GenofaceError(f"{path}, line {lines[k]}: effect_weight {raw_weight.iloc[k]!r} is not a number")

    effect = col("effect_allele").str.upper()
    bad = effect.isin(_EMPTY).to_numpy()
    if bad.any():
        raise GenofaceError(f"{path}, line {lines[bad.argmax()]}: effect_allele is empty; every variant needs one")
    other = _blank(col("other_allele"), len(df)).str.upper()
    infer = col("hm_inferOtherAllele")
    if infer is not None:
        # hm_inferOtherAllele lists every allele seen in the reference ("A/G"); only a single
        # one names the other allele.
        infer = infer.str.upper().where(~infer.isin(_EMPTY) & ~infer.str.contains("/", regex=False), "")
        other = other.where(other != "", infer)

    hm_id, au_id = _blank(col("hm_rsID"), len(df)), _blank(col("rsID"), len(df))
    ids = hm_id.where(hm_id != "", au_id)

    au_chrom = _normalize_chrom(_blank(col("chr_name"), len(df)))
    au_pos = _positions(col("chr_position"), "chr_position", lines, path)
    genome_build = metadata.get("genome_build", metadata.get("Original Genome Build", ""))
    if col("hm_chr") is not None and col("hm_pos") is not None:
        hm_chrom = _normalize_chrom(_blank(col("hm_chr"), len(df)))
        hm_pos = _positions(col("hm_pos"), "hm_pos", lines, path)
        build = metadata.get("HmPOS_build", "")
        use_hm = (hm_chrom != "").to_numpy() & (hm_pos > 0)
        # Where harmonization failed the author's position is kept only if it is on the same
        # build: a GRCh37 position among GRCh38 ones would match the wrong variant.
        fallback = ~use_hm if _same_build(genome_build, build) else np.zeros(len(df), dtype=bool)
        chrom = np.where(use_hm, hm_chrom, np.where(fallback, au_chrom, ""))
        pos = np.where(use_hm, hm_pos, np.where(fallback, au_pos, 0))
        if (~use_hm & ~fallback & (au_pos > 0)).any():
            log.info(
                "%s: %d variants without harmonized position are matched by rsID only (author positions are %s, "
                "harmonized %s)",
                path,
                int((~use_hm & ~fallback & (au_pos > 0)).sum()),
                genome_build or "of unknown build",
                build or "of unknown build",
            )
    else:
        chrom, pos, build = au_chrom.to_numpy(), au_pos, genome_build
    chrom = np.where(pos > 0, chrom, "")
    pos = np.where(chrom != "", pos, 0)

    freq = col("allelefrequency_effect")
    if freq is None:
        af = np.full(len(df), np.nan)
    else:
        af = pd.to_numeric(freq, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~freq.isin(_EMPTY).to_numpy() & ~((af >= 0) & (af <= 1))
        if bad.any():
            k = bad.argmax()
            raise GenofaceError(
                f"{path}, line {lines[k]}: allelefrequency_effect {freq.iloc[k]!r} is not a frequency between 0 and 1"
            )
    variants = pd.DataFrame(
        {
            "id": ids.to_numpy(dtype=object).astype(str),
            "chrom": np.asarray(chrom).astype(str),
            "pos": np.asarray(pos, dtype=np.int64),
            "effect_allele": effect.to_numpy(dtype=object).astype(str),
            "other_allele": other.to_numpy(dtype=object).astype(str),
            "weight": weight,
            "allele_frequency": af,
        }
    )
    return variants, build


def _blank(s: pd.Series | None, n: int) -> pd.Series:
    """The column with its "no value" placeholders as "", or all "" where it is absent."""
    if s is None:
        return pd.Series([""] * n, dtype=object)
    return s.where(~s.isin(_EMPTY), "").reset_index(drop=True)


def _positions(s: pd.Series | None, name: str, lines: np.ndarray, path: Path) -> np.ndarray:
    """Integer positions, 0 where empty; anything else that is not a positive integer is refused."""
    if s is None:
        return np.zeros(len(lines), dtype=np.int64)
    empty = s.isin(_EMPTY).to_numpy()
    num = pd.to_numeric(s.where(~empty, "0"), errors="coerce").to_numpy(dtype=np.float64)
    bad = ~empty & ~((num > 0) & (num == np.floor(num)))
    if bad.any():
        k = bad.argmax()
        raise GenofaceError(f"{path}, line {lines[k]}: {name} {s.iloc[k]!r} is not a positive integer position")
    return num.astype(np.int64)


def _normalize_chrom(s: pd.Series) -> pd.Series:
    """Chromosome names as "1".."22", "X", "Y", "XY", "MT" ("chr" prefix dropped, 23 -> X)."""
    s = s.astype(str).str.strip().str.upper().str.removeprefix("CHR").reset_index(drop=True)
    return s.replace(_CHROM_ALIASES).where(~s.isin(_EMPTY), "")


def _same_build(a: str, b: str) -> bool:
    a, b = a.strip().upper(), b.strip().upper()
    return bool(a) and _BUILD_ALIASES.get(a, a) == _BUILD_ALIASES.get(b, b)


def scoring_panel(scoring: ScoringFile | str | os.PathLike) -> pd.DataFrame:
    """The scoring file as a variant panel: columns id, chrom, pos, ref (= other_allele, "" if
    unknown), alt (= effect_allele), one row per scoring variant, in file order.

    Pass it to :func:`genoface.genetics._consumer.consumer_genotype_data` to read a 23andMe /
    AncestryDNA file (which has no REF/ALT) as dosages of the effect alleles, then to
    :func:`score` (see the module docstring). Heterozygous calls are read only where
    other_allele is known.
    """
    if not isinstance(scoring, ScoringFile):
        scoring = read_scoring_file(scoring)
    v = scoring.variants
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


def score(
    scoring: ScoringFile | str | os.PathLike,
    data: GenotypeData,
    *,
    ambiguous: str = "drop",
    source: str = "the genotypes",
) -> tuple[pd.DataFrame, dict]:
    """Polygenic scores of every sample in ``data``, and a report of how the variants matched.

    Parameters
    ----------
    scoring : a :class:`ScoringFile` or the path of one.
    data : genotypes (ALT dosage 0/1/2, -1 missing) and their variants (chrom, pos, id, ref, alt).
    ambiguous : "drop" (default, as pgsc_calc) leaves out A/T and C/G SNPs, whose strand cannot
        be told from their alleles; "keep" scores them on the strand written in both files.
    source : name of the genotype file, used in messages and the report.

    Matching. A scoring variant is looked up by rsID, and one whose rsID is not in ``data`` by
    chrom:pos ("chr" prefixes dropped, 23 = X). Among the genotype variants found (more than
    one at a multi-allelic site split into biallelic records), the one whose alleles fit is
    used: effect allele = ALT scores the dosage, = REF scores 2 - dosage, and alleles that fit
    only after complementing both (A<->T, C<->G) are read on the other strand (``other_allele``
    unknown: the effect allele alone must fit). Alleles that fit neither strand are left out; so
    is a second scoring variant on a genotype variant already used, and a variant with no call
    in any sample (it would add the same imputed constant to every score).

    Missing calls are imputed by the mean effect-allele dosage: 2 x allelefrequency_effect where
    the file gives it, else the mean over the samples called in ``data``.

    Returns
    -------
    scores : DataFrame indexed by sample_id with columns score (sum of effect dosage x weight,
        pgsc_calc's SUM), score_avg (score / (2 x n_variants_used), plink's default average),
        n_variants_used, n_imputed (missing calls imputed for that sample).
    report : dict with scoring (path), pgs_id, source, n_scoring, n_matched (variants scored),
        n_matched_by_id, n_matched_by_position, n_strand_flipped, n_ambiguous, ambiguous (the
        policy), n_ambiguous_kept, n_ambiguous_dropped, n_allele_mismatch,
        n_missing_from_genotypes, n_multiallelic (variants that found several genotype
        variants), n_duplicate, n_no_calls, fraction_matched (n_matched / n_scoring),
        imputation ("none", "allelefrequency_effect", "genotypes" or
        "allelefrequency_effect+genotypes": where the imputed means came from), n_imputed_calls.
    """
    if ambiguous not in AMBIGUOUS_POLICIES:
        raise GenofaceError(f"ambiguous must be one of {AMBIGUOUS_POLICIES}, got {ambiguous!r}")
    if not isinstance(scoring, ScoringFile):
        scoring = read_scoring_file(scoring)
    m = match_alleles(scoring.variants, data.variants, ambiguous)
    n_scoring = scoring.n_variants
    if m["n_found"] == 0:
        build = scoring.positions_build or "of the scoring file"
        raise GenofaceError(
            f"{scoring.path}: none of its {n_scoring:,} variants is in {source} (matched by rsID and by "
            f"chrom:pos); is the genome build {build} like that of {source}?"
        )
    if len(m["rows"]) == 0:
        raise GenofaceError(
            f"{scoring.path}: {m['n_found']:,} of its {n_scoring:,} variants are in {source} but none can be "
            f"scored ({m['n_allele_mismatch']:,} allele mismatches, {m['n_ambiguous_dropped']:,} strand-ambiguous "
            "dropped); check that both files use the same alleles, or pass ambiguous='keep'"
        )
    rows, cols, sign = m["rows"], m["cols"], m["sign"]
    weight = scoring.variants["weight"].to_numpy()[rows]
    # The file's frequency is of the effect allele; imputation works on ALT dosages.
    af = scoring.variants["allele_frequency"].to_numpy()[rows]
    alt_mean = np.where(sign > 0, 2 * af, 2 - 2 * af)
    total, n_imputed, usable, from_file, from_data = _weighted_sum(data.genotypes, cols, sign, weight, alt_mean)

    n_used = int(usable.sum())
    by_id = m["by_id"][usable]
    report = {
        "scoring": scoring.path,
        "pgs_id": scoring.pgs_id,
        "source": source,
        "n_scoring": n_scoring,
        "n_matched": n_used,
        "n_matched_by_id": int(by_id.sum()),
        "n_matched_by_position": int((~by_id).sum()),
        "n_strand_flipped": int(m["flipped"][usable].sum()),
        "n_ambiguous": m["n_ambiguous"],
        "ambiguous": ambiguous,
        "n_ambiguous_kept": int(m["ambiguous"][usable].sum()),
        "n_ambiguous_dropped": m["n_ambiguous_dropped"],
        "n_allele_mismatch": m["n_allele_mismatch"],
        "n_missing_from_genotypes": n_scoring - m["n_found"],
        "n_multiallelic": m["n_multiallelic"],
        "n_duplicate": m["n_duplicate"],
        "n_no_calls": int((~usable).sum()),
        "fraction_matched": n_used / n_scoring,
        "imputation": _imputation_source(from_file, from_data),
        "n_imputed_calls": int(n_imputed.sum()),
    }
    if n_used == 0:
        raise GenofaceError(
            f"{scoring.path}: the {len(rows):,} variants it shares with {source} have no calls in any sample; "
            "check that the genotypes were read against this scoring file"
        )
    if from_data and data.n_samples < _FEW_SAMPLES:
        log.warning(
            "%s: missing calls at %d variants imputed from the mean of only %d samples (the scoring file gives "
            "no allelefrequency_effect for them)",
            source,
            from_data,
            data.n_samples,
        )
    log.info("%s scored on %s: %s", scoring.path, source, report)
    scores = pd.DataFrame(
        {
            "score": total,
            "score_avg": total / (2 * n_used),
            "n_variants_used": np.full(data.n_samples, n_used, dtype=np.int64),
            "n_imputed": n_imputed,
        },
        index=pd.Index(data.sample_ids, name="sample_id"),
    )
    return scores, report


def _imputation_source(from_file: int, from_data: int) -> str:
    if from_file and from_data:
        return "allelefrequency_effect+genotypes"
    if from_file:
        return "allelefrequency_effect"
    return "genotypes" if from_data else "none"


def match_alleles(sv: pd.DataFrame, dv: pd.DataFrame, ambiguous: str) -> dict:
    """Which genotype column scores each scoring variant, and in which orientation.

    Returns arrays over the variants kept (rows: scoring row, cols: genotype column, sorted by
    column; sign: +1 where the effect allele is ALT, -1 where it is REF; flipped, by_id,
    ambiguous: bool) and the counts of the others.
    """
    n = len(sv)
    s_id = sv["id"].to_numpy(dtype=object)
    s_key = _keys(sv["chrom"], sv["pos"])
    d_id = dv["id"].astype(str).to_numpy(dtype=object)
    d_key = _keys(_normalize_chrom(dv["chrom"]), dv["pos"])

    # Candidates: every genotype variant with the same rsID; by chrom:pos for the rest.
    s_all = np.arange(n)
    d_all = np.arange(len(dv))
    has_id = s_id != ""
    d_has_id = ~pd.Series(d_id).isin(_EMPTY).to_numpy()
    by_id = pd.DataFrame({"i": s_all[has_id], "k": s_id[has_id]}).merge(
        pd.DataFrame({"j": d_all[d_has_id], "k": d_id[d_has_id]}), on="k"
    )
    found_by_id = np.zeros(n, dtype=bool)
    found_by_id[by_id["i"].to_numpy()] = True
    ask = ~found_by_id & (s_key != "")
    by_pos = pd.DataFrame({"i": s_all[ask], "k": s_key[ask]}).merge(
        pd.DataFrame({"j": d_all[d_key != ""], "k": d_key[d_key != ""]}), on="k"
    )
    i = np.concatenate([by_id["i"].to_numpy(dtype=np.int64), by_pos["i"].to_numpy(dtype=np.int64)])
    j = np.concatenate([by_id["j"].to_numpy(dtype=np.int64), by_pos["j"].to_numpy(dtype=np.int64)])
    pair_by_id = np.concatenate([np.ones(len(by_id), dtype=bool), np.zeros(len(by_pos), dtype=bool)])

    eff = sv["effect_allele"].to_numpy(dtype=object)[i]
    oth = sv["other_allele"].to_numpy(dtype=object)[i]
    ref = dv["ref"].astype(str).str.upper().to_numpy(dtype=object)[j]
    alt = dv["alt"].astype(str).str.upper().to_numpy(dtype=object)[j]
    c_eff, c_oth, c_ref = _complement(eff), _complement(oth), _complement(ref)
    no_oth = oth == ""
    direct_alt = (eff == alt) & (no_oth | (oth == ref))
    direct_ref = (eff == ref) & (no_oth | (oth == alt))
    flip_alt = (c_eff == alt) & (no_oth | (c_oth == ref))
    flip_ref = (c_eff == ref) & (no_oth | (c_oth == alt))
    direct = direct_alt | direct_ref
    fits = direct | flip_alt | flip_ref
    rank = np.where(direct, 0, np.where(fits, 1, 2))
    sign = np.where(direct_alt | (~direct & flip_alt), 1, -1)
    is_ambiguous = c_ref == alt  # A/T or C/G: both strands read alike

    # Best candidate per scoring variant: fitting directly, then on the other strand, then none.
    order = np.lexsort((j, rank, i))
    first = np.ones(len(order), dtype=bool)
    first[1:] = i[order][1:] != i[order][:-1]
    best = order[first]
    n_candidates = np.bincount(i, minlength=n)

    mismatch = rank[best] == 2
    amb = ~mismatch & is_ambiguous[best]
    drop_amb = amb if ambiguous == "drop" else np.zeros_like(amb)
    keep = ~mismatch & ~drop_amb
    # A genotype variant scores once: later scoring rows on the same one are duplicates.
    duplicate = np.zeros_like(keep)
    duplicate[keep] = pd.Index(j[best][keep]).duplicated()
    keep &= ~duplicate
    if duplicate.any():
        log.warning(
            "%d scoring variants dropped: an earlier one already uses the same genotype variant", duplicate.sum()
        )

    chosen = best[keep]
    by_col = np.argsort(j[chosen], kind="stable")  # column order reads a memory-mapped matrix in order
    chosen = chosen[by_col]
    return {
        "rows": i[chosen],
        "cols": j[chosen],
        "sign": sign[chosen],
        "flipped": rank[chosen] == 1,
        "by_id": pair_by_id[chosen],
        "ambiguous": is_ambiguous[chosen],
        "n_found": len(best),
        "n_allele_mismatch": int(mismatch.sum()),
        "n_ambiguous": int(amb.sum()),
        "n_ambiguous_dropped": int(drop_amb.sum()),
        "n_duplicate": int(duplicate.sum()),
        "n_multiallelic": int((n_candidates > 1).sum()),
    }


def _keys(chrom: pd.Series, pos: pd.Series) -> np.ndarray:
    """``chrom:pos`` per variant, "" where either is unknown."""
    chrom = np.asarray(chrom).astype(str)
    pos = np.asarray(pos, dtype=np.int64)
    keys = np.char.add(np.char.add(chrom, ":"), pos.astype(str))
    return np.where((chrom != "") & (pos > 0), keys, "").astype(object)


def _complement(alleles: np.ndarray) -> np.ndarray:
    """Complement of single-base alleles; "?" for anything else (indels are not strand-flipped)."""
    return pd.Series(alleles, dtype=object).map(_COMPLEMENT).fillna("?").to_numpy(dtype=object)


def _weighted_sum(
    genotypes: np.ndarray, cols: np.ndarray, sign: np.ndarray, weight: np.ndarray, alt_mean: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Effect-allele dosage x weight summed over ``cols`` of ``genotypes`` (n, m) int8, -1 missing.

    ``sign`` +1 scores the ALT dosage, -1 the REF dosage (2 - ALT); missing calls take
    ``alt_mean`` (NaN: the mean of the called samples). The effect dosage is c + s x ALT with
    c = 0 or 2, so the sum is one matrix product plus a constant per variant. Columns are read
    in blocks so that only a block is ever converted to float.

    Returns (total (n,), n_imputed (n,), usable (k,) bool: the variant has a call or a
    frequency, number of variants imputed from the file's frequency, number from the samples).
    """
    n = genotypes.shape[0]
    k = len(cols)
    total = np.zeros(n, dtype=np.float64)
    n_imputed = np.zeros(n, dtype=np.int64)
    usable = np.zeros(k, dtype=bool)
    from_file = from_data = 0
    step = max(1, _BLOCK_ELEMENTS // max(n, 1))
    for start in range(0, k, step):
        sl = slice(start, min(start + step, k))
        g = np.asarray(genotypes[:, cols[sl]])
        missing = g < 0
        x = g.astype(np.float64)
        n_called = (~missing).sum(axis=0)
        # A variant nobody is called at tells nothing about these samples: it is left out.
        has_call = n_called > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            called_mean = np.where(missing, 0.0, x).sum(axis=0) / n_called
        file_mean = alt_mean[sl]
        imputes = missing.any(axis=0) & has_call
        from_file += int((imputes & ~np.isnan(file_mean)).sum())
        from_data += int((imputes & np.isnan(file_mean)).sum())
        mean = np.where(np.isnan(file_mean), called_mean, file_mean)
        x = np.where(missing, np.nan_to_num(mean)[None, :], x)
        sw = np.where(has_call, sign[sl] * weight[sl], 0.0)
        total += x @ sw
        total += np.where(has_call & (sign[sl] < 0), 2 * weight[sl], 0.0).sum()
        n_imputed += missing[:, has_call].sum(axis=1)
        usable[sl] = has_call
    assert total.shape == (n,)
    return total, n_imputed, usable, from_file, from_data
