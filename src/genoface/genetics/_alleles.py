"""The allele matcher: every reader of genotypes against a panel goes through here.

A *panel* is a list of variants with the allele that is counted: a model's training SNPs (ALT is
counted), a PGS scoring file (the effect allele), a pigmentation model (the allele its
coefficients count). A *target* is what a user brings: a VCF/BCF or PLINK file (a variant table
with REF/ALT and ALT dosages), or a consumer raw-data file (allele letters, no REF/ALT).

Each panel variant is looked up in the target by id (rsID), and, where the id is not there, by
chromosome and position (names normalised: ``chr1`` = ``1``, ``23`` = ``X``). Among the target
records found (several where a multi-allelic site is split into biallelic rows), the one whose
alleles fit is used:

- the same alleles: the dosage is read as it is;
- REF and ALT exchanged: the dosage is 2 - dosage ("flipped");
- the alleles fit only after complementing both (A<->T, C<->G): the target is on the other
  strand ("strand-flipped"), then read as above. Indels are never complemented.

A/T and C/G SNPs ("ambiguous") read alike on both strands. Where the target is known to be on
the forward strand (VCF, BCF and PLINK, by convention) they are read as written, exchanged
REF/ALT included, and nothing is dropped for being palindromic. Where the strand is unknown
(PGS files, consumer files) the ``ambiguous`` rule decides:

- ``"drop"`` (default): leave them out, as the PGS Catalog calculator does;
- ``"frequency"``: orient them by allele frequency, when the panel's and the target's
  frequencies are both known and both far enough from 0.5 (minor allele frequency below
  :data:`FREQUENCY_MAF_MAX`) to tell; the others are dropped;
- ``"keep"``: read them as written (trust that both are on the forward strand).

The result says, per panel variant, which target column gives its dosage and how, and a
:class:`MatchReport` counts what was matched, flipped, strand-flipped and dropped, and why,
naming every dropped variant (as plink2 and pgsc_calc do).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from genoface.core.errors import GenofaceError
from genoface.core.schema import MISSING, PAR, X, normalize_chroms
from genoface.io.genotypes import GenotypeData

log = logging.getLogger(__name__)

#: How a target's strand is known: "forward" (VCF/BCF/PLINK) or "unknown" (PGS, consumer files).
STRANDS = ("forward", "unknown")
#: Rules for A/T and C/G SNPs where the strand is unknown.
AMBIGUOUS_RULES = ("drop", "frequency", "keep")
#: An ambiguous SNP is oriented by frequency only when both minor allele frequencies are below this.
FREQUENCY_MAF_MAX = 0.4
#: Why a panel variant was left out (the ``reason`` column of :attr:`MatchReport.dropped`).
REASONS = ("absent", "allele mismatch", "ambiguous strand", "duplicate", "no call")

_COMPLEMENT = {"A": "T", "T": "A", "C": "G", "G": "C"}
_EMPTY = frozenset({"", ".", "NA", "nan", "None"})


@dataclass
class MatchReport:
    """What matching a panel against a target did.

    Counts: ``n_panel`` panel variants; ``n_matched`` given a dosage source, of which
    ``n_by_id`` / ``n_by_position`` found by id / by chrom:pos, ``n_flipped`` with REF/ALT
    exchanged, ``n_strand_flipped`` read on the other strand, ``n_ambiguous_kept`` A/T or C/G
    SNPs kept (as written, or by frequency: ``n_ambiguous_by_frequency``); dropped:
    ``n_absent`` (not in the target), ``n_allele_mismatch`` (alleles fit neither strand),
    ``n_ambiguous_dropped``, ``n_duplicate`` (a target variant already used by an earlier panel
    row), ``n_no_call`` (consumer files: found but not called); ``n_multiallelic`` panel
    variants that found several target records. ``dropped`` names each dropped panel variant
    (columns id, reason).
    """

    source: str
    strand: str
    ambiguous: str
    n_panel: int = 0
    n_matched: int = 0
    n_by_id: int = 0
    n_by_position: int = 0
    n_flipped: int = 0
    n_strand_flipped: int = 0
    n_ambiguous_kept: int = 0
    n_ambiguous_by_frequency: int = 0
    n_absent: int = 0
    n_allele_mismatch: int = 0
    n_ambiguous_dropped: int = 0
    n_duplicate: int = 0
    n_no_call: int = 0
    n_multiallelic: int = 0
    dropped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({"id": [], "reason": []}))

    @property
    def fraction_matched(self) -> float:
        return self.n_matched / self.n_panel if self.n_panel else 0.0

    def to_dict(self, *, with_dropped: bool = False) -> dict:
        """The counts (and, with ``with_dropped``, the dropped ids by reason) as JSON-able values."""
        out = {k: v for k, v in self.__dict__.items() if k != "dropped"}
        out["fraction_matched"] = self.fraction_matched
        if with_dropped:
            out["dropped"] = {r: self.dropped.loc[self.dropped["reason"] == r, "id"].tolist() for r in REASONS}
        return out

    def summary(self) -> str:
        """One line: '812 of 835 variants matched (3 flipped, 1 strand-flipped); dropped: 20 absent, ...'."""
        done = [(self.n_flipped, "REF/ALT exchanged"), (self.n_strand_flipped, "strand-flipped")]
        if self.strand == "unknown":  # on a forward-strand file they are read as written: routine
            done += [(self.n_ambiguous_kept, "A/T or C/G kept")]
        drops = [
            (self.n_absent, "absent"),
            (self.n_no_call, "not called"),
            (self.n_allele_mismatch, "allele mismatch"),
            (self.n_ambiguous_dropped, "A/T or C/G dropped"),
            (self.n_duplicate, "duplicate"),
        ]
        text = f"{self.source}: {self.n_matched:,} of {self.n_panel:,} variants matched"
        kept = ", ".join(f"{n:,} {what}" for n, what in done if n)
        text += f" ({kept})" if kept else ""
        lost = ", ".join(f"{n:,} {what}" for n, what in drops if n)
        return text + (f"; dropped: {lost}" if lost else "")


@dataclass
class AlleleMatch:
    """Where each matched panel variant's dosage comes from.

    ``rows`` (k,) panel row, ``cols`` (k,) target column (sorted, so a memory-mapped target is
    read in order), ``flip`` (k,) bool: the counted allele is the target's REF (dosage = 2 -
    target dosage), ``strand`` (k,) bool: read on the other strand, ``by_id`` (k,) bool,
    ``palindromic`` (k,) bool: an A/T or C/G SNP.
    """

    rows: np.ndarray
    cols: np.ndarray
    flip: np.ndarray
    strand: np.ndarray
    by_id: np.ndarray
    palindromic: np.ndarray
    report: MatchReport

    def dosages(self, genotypes: np.ndarray, n_panel: int) -> np.ndarray:
        """(n, n_panel) int8 dosages of the panel's counted alleles, -1 where absent or missing."""
        n = genotypes.shape[0]
        out = np.full((n, n_panel), MISSING, dtype=np.int8)
        if len(self.cols):
            g = np.asarray(genotypes[:, self.cols])
            flipped = np.where(g < 0, MISSING, 2 - g).astype(np.int8)
            out[:, self.rows] = np.where(self.flip[None, :], flipped, g)
        return out


@dataclass(frozen=True)
class PreparedPanel:
    """A panel checked and normalized once by :func:`panel_table` (``table``), with its counted
    alleles' frequencies (``af``, None where the panel has none). The matchers take it wherever
    they take a panel: a server reading many genomes on one model's panel normalizes it once
    instead of per request (a tenth of a second at 30,000 variants). Do not modify ``table``."""

    table: pd.DataFrame
    af: np.ndarray | None
    keys: np.ndarray  # chrom:pos of each variant (:func:`_keys`)

    @classmethod
    def of(cls, panel: pd.DataFrame) -> PreparedPanel:
        af = panel["af"].to_numpy(dtype=np.float64) if "af" in panel.columns else None
        table = panel_table(panel)
        return cls(table, af, _keys(table))

    def __len__(self) -> int:
        return len(self.table)


def panel_frequencies(panel: pd.DataFrame | PreparedPanel) -> np.ndarray | None:
    """The panel's counted-allele frequencies (its ``af`` column), None where it has none."""
    if isinstance(panel, PreparedPanel):
        return panel.af
    return panel["af"].to_numpy(dtype=np.float64) if "af" in panel.columns else None


def panel_table(panel: pd.DataFrame | PreparedPanel) -> pd.DataFrame:
    """Checked copy of a panel: columns id, chrom, pos, ref ("" unknown), alt (the counted allele),
    alleles upper-case, chromosome names normalised; extra columns dropped. A
    :class:`PreparedPanel` gives its table as it is (shared: not to be modified)."""
    if isinstance(panel, PreparedPanel):
        return panel.table
    missing = [c for c in ("id", "alt") if c not in panel.columns]
    if missing:
        raise GenofaceError(f"a panel needs columns id and alt (the counted allele); it lacks {missing}")
    n = len(panel)
    col = lambda c, default: panel[c] if c in panel.columns else pd.Series([default] * n)  # noqa: E731
    pos = pd.to_numeric(col("pos", 0), errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    return pd.DataFrame(
        {
            "id": _text(col("id", "")),
            "chrom": normalize_chroms(_text(col("chrom", ""))),
            "pos": pos,
            "ref": _text(col("ref", "")).str.upper().to_numpy(dtype=object),
            "alt": _text(col("alt", "")).str.upper().to_numpy(dtype=object),
        }
    )


def match_variants(
    panel: pd.DataFrame,
    target: pd.DataFrame,
    *,
    strand: str = "forward",
    ambiguous: str = "drop",
    panel_freq: np.ndarray | None = None,
    target_freq: np.ndarray | None = None,
    source: str = "the genotypes",
) -> AlleleMatch:
    """Match a panel (columns id, alt = counted allele; chrom, pos, ref optional, ref "" where
    unknown) against a target variant table (columns id, chrom, pos, ref, alt).

    ``strand``: "forward" when the target is a VCF/BCF/PLINK file (A/T and C/G read as written),
    "unknown" otherwise (``ambiguous`` decides, see the module docstring). ``panel_freq``: the
    counted allele's frequency per panel row; ``target_freq``: the ALT frequency per target
    column (both NaN where unknown; used by ``ambiguous="frequency"`` only).
    """
    if strand not in STRANDS:
        raise GenofaceError(f"strand must be one of {STRANDS}, got {strand!r}")
    _check_ambiguous(ambiguous)
    p = panel_table(panel)
    t = panel_table(target)
    pairs = _candidates(p, t, _prepared_keys(panel))
    fit = _allele_fit(p, t, pairs)
    best = _best_pairs(pairs, fit.rank)
    choice = _Choice.of(fit, best)
    if strand == "unknown" and ambiguous != "keep":  # A/T and C/G dropped unless frequencies tell
        choice.amb_kept[:] = False
        if ambiguous == "frequency" and panel_freq is not None and target_freq is not None:
            f_panel = np.asarray(panel_freq, dtype=np.float64)[pairs.i[best]]
            f_target = np.asarray(target_freq, dtype=np.float64)[pairs.j[best]]
            choice.orient_by_frequency(f_panel, f_target)
    choice.settle(pairs.j[best])
    # Columns sorted, so that a memory-mapped target is read in order.
    chosen = best[choice.keep]
    by_col = np.argsort(pairs.j[chosen], kind="stable")
    chosen = chosen[by_col]
    report = _variants_report(p, pairs, best, choice, chosen, source=source, strand=strand, ambiguous=ambiguous)
    return AlleleMatch(
        rows=pairs.i[chosen],
        cols=pairs.j[chosen],
        flip=choice.flip[choice.keep][by_col],
        strand=choice.strand_flip[choice.keep][by_col],
        by_id=pairs.by_id[chosen],
        palindromic=fit.palindromic[chosen],
        report=report,
    )


def _check_ambiguous(ambiguous: str) -> None:
    if ambiguous not in AMBIGUOUS_RULES:
        raise GenofaceError(f"ambiguous must be one of {AMBIGUOUS_RULES}, got {ambiguous!r}")


@dataclass
class _PairFit:
    """How the alleles of each candidate pair (panel row, target row) fit."""

    same: np.ndarray  # fit as written with REF and ALT as in the target
    s_same: np.ndarray  # fit on the other strand with REF and ALT as in the target
    palindromic: np.ndarray  # the target's alleles are A/T or C/G: both strands read alike
    rank: np.ndarray  # 0: fit as written, 1: only on the other strand, 2: fit neither


def _allele_fit(p: pd.DataFrame, t: pd.DataFrame, pairs: _Pairs) -> _PairFit:
    """How the panel's and the target's alleles of each pair fit, as written or complemented."""
    alt, ref = p["alt"].to_numpy(dtype=object)[pairs.i], p["ref"].to_numpy(dtype=object)[pairs.i]
    t_alt, t_ref = t["alt"].to_numpy(dtype=object)[pairs.j], t["ref"].to_numpy(dtype=object)[pairs.j]
    c_alt, c_ref = _complement(alt), _complement(ref)
    no_ref = ref == ""
    same = (alt == t_alt) & (no_ref | (ref == t_ref))
    swap = (alt == t_ref) & (no_ref | (ref == t_alt))
    s_same = (c_alt == t_alt) & (no_ref | (c_ref == t_ref))
    s_swap = (c_alt == t_ref) & (no_ref | (c_ref == t_alt))
    direct = same | swap
    palindromic = _complement(t_ref) == t_alt  # A/T or C/G: both strands read alike
    # On a forward-strand target a palindromic SNP is read as written; otherwise the other strand
    # is tried only where the alleles do not fit as written.
    fits_strand = (s_same | s_swap) & ~palindromic
    rank = np.where(direct, 0, np.where(fits_strand, 1, 2))
    return _PairFit(same=same, s_same=s_same, palindromic=palindromic, rank=rank)


def _best_pairs(pairs: _Pairs, rank: np.ndarray) -> np.ndarray:
    """The best candidate pair of each panel row found: fitting as written, then on the other
    strand, then none; the first target row among equals."""
    order = np.lexsort((pairs.j, rank, pairs.i))
    first = np.ones(len(order), dtype=bool)
    first[1:] = pairs.i[order][1:] != pairs.i[order][:-1]
    return order[first]


@dataclass
class _Choice:
    """What is done with the best pair of each panel row found (arrays over those pairs)."""

    flip: np.ndarray  # the counted allele is the target's REF: dosage = 2 - target dosage
    strand_flip: np.ndarray  # read on the other strand
    mismatch: np.ndarray  # the alleles fit neither strand
    amb: np.ndarray  # an A/T or C/G SNP whose alleles fit
    amb_kept: np.ndarray  # such a SNP kept
    by_freq: np.ndarray  # such a SNP oriented by allele frequency
    drop_amb: np.ndarray = field(init=False)
    duplicate: np.ndarray = field(init=False)  # a target variant already used by an earlier panel row
    keep: np.ndarray = field(init=False)

    @classmethod
    def of(cls, fit: _PairFit, best: np.ndarray) -> _Choice:
        """As the alleles fit; A/T and C/G SNPs kept (as written)."""
        mismatch = fit.rank[best] == 2
        amb = ~mismatch & fit.palindromic[best]
        return cls(
            flip=np.where(fit.rank == 0, ~fit.same, ~fit.s_same)[best],
            strand_flip=fit.rank[best] == 1,
            mismatch=mismatch,
            amb=amb,
            amb_kept=amb.copy(),
            by_freq=np.zeros_like(amb),
        )

    def orient_by_frequency(self, f_panel: np.ndarray, f_target: np.ndarray) -> None:
        """Keep the A/T and C/G SNPs whose frequencies tell the strand (see the module notes),
        read on the strand they tell; ``f_panel`` the counted allele's, ``f_target`` ALT's."""
        # The counted allele's frequency in the target, read as written:
        f_written = np.where(self.flip, 1.0 - f_target, f_target)
        decided = self.amb & (np.abs(f_panel - 0.5) < 0.5) & (np.abs(f_panel - 0.5) > 0.5 - FREQUENCY_MAF_MAX)
        decided &= np.abs(f_written - 0.5) > 0.5 - FREQUENCY_MAF_MAX
        other_strand = decided & ((f_panel - 0.5) * (f_written - 0.5) < 0)
        self.flip = np.where(other_strand, ~self.flip, self.flip)
        self.strand_flip = self.strand_flip | other_strand
        self.amb_kept = decided
        self.by_freq = decided

    def settle(self, cols: np.ndarray) -> None:
        """Which pairs are kept: fitting, not a dropped A/T or C/G SNP, and not a target column
        (``cols``, one per pair) already used by an earlier pair."""
        self.drop_amb = self.amb & ~self.amb_kept
        keep = ~self.mismatch & ~self.drop_amb
        self.duplicate = np.zeros_like(keep)
        self.duplicate[keep] = pd.Index(cols[keep]).duplicated()
        self.keep = keep & ~self.duplicate


def _variants_report(
    p: pd.DataFrame,
    pairs: _Pairs,
    best: np.ndarray,
    choice: _Choice,
    chosen: np.ndarray,
    *,
    source: str,
    strand: str,
    ambiguous: str,
) -> MatchReport:
    """The report of :func:`match_variants`; ``chosen`` the pairs matched."""
    found_rows, keep = pairs.i[best], choice.keep
    found, reasons = _drop_reasons(
        len(p),
        found_rows,
        [
            (found_rows[choice.mismatch], "allele mismatch"),
            (found_rows[choice.drop_amb], "ambiguous strand"),
            (found_rows[choice.duplicate], "duplicate"),
        ],
    )
    return MatchReport(
        source=source,
        strand=strand,
        ambiguous=ambiguous,
        n_panel=len(p),
        n_matched=len(chosen),
        n_by_id=int(pairs.by_id[chosen].sum()),
        n_by_position=int((~pairs.by_id[chosen]).sum()),
        n_flipped=int(choice.flip[keep].sum()),
        n_strand_flipped=int(choice.strand_flip[keep].sum()),
        n_ambiguous_kept=int((choice.amb & choice.amb_kept & keep).sum()),
        n_ambiguous_by_frequency=int((choice.by_freq & keep).sum()),
        n_absent=int((~found).sum()),
        n_allele_mismatch=int(choice.mismatch.sum()),
        n_ambiguous_dropped=int(choice.drop_amb.sum()),
        n_duplicate=int(choice.duplicate.sum()),
        n_multiallelic=int((np.bincount(pairs.i, minlength=len(p)) > 1).sum()),
        dropped=_dropped(p["id"], reasons),
    )


def on_panel(
    data,
    panel: pd.DataFrame | PreparedPanel,
    *,
    strand: str = "forward",
    ambiguous: str = "drop",
    panel_freq: np.ndarray | None = None,
    source: str = "the genotypes",
) -> tuple[GenotypeData, MatchReport]:
    """``data`` (a GenotypeData, or anything with sample_ids, genotypes and variants such as a
    Cohort) re-read on the panel's variants: columns in panel order, dosages of the panel's
    counted allele (flipped where REF/ALT are exchanged), -1 where absent, missing or dropped.

    A target that already is the panel (same ids, REF and ALT in the same order: a model's own
    training cohort) is returned as it is. Targets are read as biallelic SNPs for this (face and
    trait panels are SNPs): on the rows of a split multi-allelic record, counting REF as 2 minus
    one row's dosage would count the other ALT alleles as REF (PGS scoring, which reads such
    records, counts REF over all of a record's rows itself).
    """
    v = data.variants
    given = panel.table if isinstance(panel, PreparedPanel) else panel
    if len(v) == len(given) and all(
        np.array_equal(v[c].to_numpy(dtype=str), given[c].to_numpy(dtype=str)) for c in ("id", "ref", "alt")
    ):
        report = MatchReport(source=source, strand=strand, ambiguous=ambiguous, n_panel=len(panel))
        report.n_matched = report.n_by_id = len(panel)
        return data, report
    target_freq = alt_frequencies(data.genotypes) if ambiguous == "frequency" else None
    match = match_variants(
        panel, v, strand=strand, ambiguous=ambiguous, panel_freq=panel_freq, target_freq=target_freq, source=source
    )
    variants = panel_table(panel).assign(ref=lambda d: d["ref"].astype(str), alt=lambda d: d["alt"].astype(str))
    out = GenotypeData(
        data.sample_ids,
        match.dosages(data.genotypes, len(panel)),
        variants,
        sex=getattr(data, "sex", None),
    )
    return out, match.report


def alt_frequencies(genotypes: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """ALT allele frequency per column of an (n, m) int8 dosage matrix, NaN where nobody is called."""
    m = genotypes.shape[1]
    out = np.full(m, np.nan)
    for j0 in range(0, m, chunk):
        g = np.asarray(genotypes[:, j0 : j0 + chunk])
        called = (g >= 0).sum(axis=0)
        total = np.where(g >= 0, g, 0).sum(axis=0, dtype=np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[j0 : j0 + g.shape[1]] = np.where(called > 0, total / (2.0 * called), np.nan)
    return out


# ---- consumer calls (allele letters, no REF/ALT) ----------------------------------------------------


def match_calls(
    panel: pd.DataFrame,
    call_ids: np.ndarray,
    call_chrom: np.ndarray,
    call_pos: np.ndarray,
    allele1: np.ndarray,
    allele2: np.ndarray,
    *,
    ambiguous: str = "drop",
    source: str = "the raw-data file",
) -> tuple[np.ndarray, MatchReport]:
    """One person's calls as dosages of the panel's counted alleles, and the match report.

    ``allele1`` / ``allele2`` are the called alleles ("" where not called; ``allele2`` "" for a
    haploid call, which counts as hemizygous: 0 or 2). Consumer files carry no REF/ALT and
    their strand is not stated, so a call is read against the panel's two alleles, on the other
    strand where it fits only there; A/T and C/G SNPs follow ``ambiguous`` ("drop" or "keep";
    "frequency" needs many people and drops them here). Returns dosage (len(panel),) int8, -1
    where absent, not called or not matched.
    """
    _check_ambiguous(ambiguous)
    p = panel_table(panel)
    calls = pd.DataFrame(
        {
            "id": np.asarray(call_ids).astype(str),
            "chrom": np.asarray(call_chrom).astype(str),
            "pos": np.asarray(call_pos, dtype=np.int64),
        }
    )
    a1, a2 = _upper_alleles(allele1), _upper_alleles(allele2)
    pairs = _candidates(p, calls, _prepared_keys(panel))
    # One record per panel variant: the first found (by id before position).
    pairs = pairs.take(~pd.Index(pairs.i).duplicated())
    read = _CallReading.of(p, pairs, a1, a2, ambiguous)
    dosage = np.full(len(p), MISSING, dtype=np.int8)
    dosage[pairs.i[read.keep]] = read.dose[read.keep]
    return dosage, _calls_report(p, pairs, read, source=source, ambiguous=ambiguous)


def _upper_alleles(alleles: np.ndarray) -> np.ndarray:
    """Allele letters as upper-case str objects (NumPy's vectorized string functions: a
    server reads a raw-data file's 600,000 calls per request)."""
    return np.strings.upper(np.asarray(alleles).astype(str)).astype(object)


@dataclass
class _CallReading:
    """How each call found for a panel variant is read (arrays over the pairs)."""

    called: np.ndarray  # not a no-call
    use_comp: np.ndarray  # read on the other strand
    mismatch: np.ndarray  # called, yet fitting the panel's alleles on neither strand
    amb: np.ndarray  # an A/T or C/G SNP whose call fits
    drop_amb: np.ndarray  # such a SNP dropped
    keep: np.ndarray
    dose: np.ndarray  # (pairs,) int8 copies of the counted allele

    @classmethod
    def of(cls, p: pd.DataFrame, pairs: _Pairs, a1: np.ndarray, a2: np.ndarray, ambiguous: str) -> _CallReading:
        i, j = pairs.i, pairs.j
        alt, ref = p["alt"].to_numpy(dtype=object)[i], p["ref"].to_numpy(dtype=object)[i]
        x, y = a1[j], a2[j]
        called = x != ""
        y = np.where(called & (y == ""), x, y)  # a haploid call counts twice: hemizygous, 0 or 2
        cx, cy = _complement(x), _complement(y)
        no_ref = ref == ""
        in_pair = lambda u: (u == alt) | (u == ref)  # noqa: E731
        fit_direct = in_pair(x) & in_pair(y)
        fit_comp = in_pair(cx) & in_pair(cy)
        # Without a REF only the counted allele can be checked: a call is read as written unless it
        # holds the counted allele's complement, which could be that allele on the other strand.
        c_alt = _complement(alt)
        fit_direct = np.where(no_ref, (x != c_alt) & (y != c_alt), fit_direct)
        fit_comp = np.where(no_ref, False, fit_comp)
        palindromic = ~no_ref & (_complement(ref) == alt)
        use_comp = ~fit_direct & fit_comp & ~palindromic
        mismatch = called & ~fit_direct & ~use_comp
        amb = called & ~mismatch & palindromic
        drop_amb = amb & (ambiguous != "keep")
        keep = called & ~mismatch & ~drop_amb
        rx, ry = np.where(use_comp, cx, x), np.where(use_comp, cy, y)
        dose = (rx == alt).astype(np.int8) + (ry == alt).astype(np.int8)
        return cls(called, use_comp, mismatch, amb, drop_amb, keep, dose)


def _calls_report(p: pd.DataFrame, pairs: _Pairs, read: _CallReading, *, source: str, ambiguous: str) -> MatchReport:
    """The report of :func:`match_calls`."""
    n, i, keep = len(p), pairs.i, read.keep
    n_candidates = np.bincount(i, minlength=n) if len(i) else np.zeros(n, dtype=np.int64)
    found, reasons = _drop_reasons(
        n,
        i,
        [
            (i[~read.called], "no call"),
            (i[read.mismatch], "allele mismatch"),
            (i[read.drop_amb], "ambiguous strand"),
        ],
    )
    return MatchReport(
        source=source,
        strand="unknown",
        ambiguous=ambiguous,
        n_panel=n,
        n_matched=int(keep.sum()),
        n_by_id=int((pairs.by_id & keep).sum()),
        n_by_position=int((~pairs.by_id & keep).sum()),
        n_strand_flipped=int((read.use_comp & keep).sum()),
        n_ambiguous_kept=int((read.amb & keep).sum()),
        n_absent=int((~found).sum()),
        n_allele_mismatch=int(read.mismatch.sum()),
        n_ambiguous_dropped=int(read.drop_amb.sum()),
        n_no_call=int((~read.called).sum()),
        n_multiallelic=int((n_candidates > 1).sum()),
        dropped=_dropped(p["id"], reasons),
    )


# ---- helpers -----------------------------------------------------------------------------------------


@dataclass
class _Pairs:
    """Candidate pairs: panel row ``i``, target row ``j``, found by id (else by chrom:pos)."""

    i: np.ndarray
    j: np.ndarray
    by_id: np.ndarray

    def take(self, mask: np.ndarray) -> _Pairs:
        return _Pairs(self.i[mask], self.j[mask], self.by_id[mask])


def _prepared_keys(panel: pd.DataFrame | PreparedPanel) -> np.ndarray | None:
    return panel.keys if isinstance(panel, PreparedPanel) else None


def _candidates(p: pd.DataFrame, t: pd.DataFrame, p_keys: np.ndarray | None = None) -> _Pairs:
    """Every target record with the panel variant's id, and by chrom:pos for the panel variants
    whose id is not in the target (``p_keys``: the panel's keys, when already known)."""
    n = len(p)
    s_id = p["id"].to_numpy(dtype=object)
    t_id = t["id"].to_numpy(dtype=object)
    has_id = ~pd.Series(s_id).isin(_EMPTY).to_numpy()
    t_has_id = ~pd.Series(t_id).isin(_EMPTY).to_numpy()
    rows_p, rows_t = np.arange(n), np.arange(len(t))
    by_id = pd.DataFrame({"i": rows_p[has_id], "k": s_id[has_id]}).merge(
        pd.DataFrame({"j": rows_t[t_has_id], "k": t_id[t_has_id]}), on="k"
    )
    found = np.zeros(n, dtype=bool)
    found[by_id["i"].to_numpy(dtype=np.int64)] = True
    s_key, t_key = _keys(p) if p_keys is None else p_keys, _keys(t)
    ask = ~found & (s_key != "")
    by_pos = pd.DataFrame({"i": rows_p[ask], "k": s_key[ask]}).merge(
        pd.DataFrame({"j": rows_t[t_key != ""], "k": t_key[t_key != ""]}), on="k"
    )
    i = np.concatenate([by_id["i"].to_numpy(dtype=np.int64), by_pos["i"].to_numpy(dtype=np.int64)])
    j = np.concatenate([by_id["j"].to_numpy(dtype=np.int64), by_pos["j"].to_numpy(dtype=np.int64)])
    pair_by_id = np.concatenate([np.ones(len(by_id), dtype=bool), np.zeros(len(by_pos), dtype=bool)])
    return _Pairs(i, j, pair_by_id)


def _keys(v: pd.DataFrame) -> np.ndarray:
    """``chrom:pos`` per variant (canonical chromosome names), "" where either is unknown. X and
    its PARs (XY) share coordinates: whether a file split the PARs off must not hide a match."""
    chrom = normalize_chroms(v["chrom"]) if "chrom" in v.columns else np.full(len(v), "")
    chrom = np.where(chrom == PAR, X, chrom)
    pos = v["pos"].to_numpy(dtype=np.int64) if "pos" in v.columns else np.zeros(len(v), dtype=np.int64)
    keys = np.char.add(np.char.add(chrom.astype(str), ":"), pos.astype(str))
    return np.where((chrom != "") & (pos > 0), keys, "").astype(object)


def _complement(alleles: np.ndarray) -> np.ndarray:
    """Complement of single-base alleles; "?" for anything else (indels are not strand-flipped)."""
    alleles = np.asarray(alleles, dtype=object)
    out = np.full(len(alleles), "?", dtype=object)
    for base, other in _COMPLEMENT.items():
        out[alleles == base] = other
    return out


def _text(s) -> pd.Series:
    s = pd.Series(s).reset_index(drop=True)
    return s.astype(str).str.strip().where(s.notna(), "").replace(dict.fromkeys(_EMPTY - {""}, ""))


def _dropped(ids: pd.Series, reasons: pd.Series) -> pd.DataFrame:
    mask = (reasons != "").to_numpy()
    return pd.DataFrame({"id": ids.to_numpy()[mask], "reason": reasons.to_numpy()[mask]})


def _drop_reasons(n: int, found_rows: np.ndarray, drops: list[tuple[np.ndarray, str]]) -> tuple[np.ndarray, pd.Series]:
    """Which of ``n`` panel rows were found (``found_rows``), and why each was left out ("" where
    kept): "absent" where not found, then each (rows, reason) of ``drops`` in turn."""
    found = np.zeros(n, dtype=bool)
    found[found_rows] = True
    reasons = pd.Series([""] * n, dtype=object)
    reasons[~found] = "absent"
    for rows, reason in drops:
        reasons[rows] = reason
    return found, reasons
