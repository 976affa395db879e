"""Genetic sex as a calibrated probability: a likelihood ratio of chromosome X (and Y) calls. This is
the one sex caller of genoface: the face models (through their demographic features) and the trait
predictor both use it (:func:`fit_sex_caller`).

Under "male" an X genotype is hemizygous (dosage 0 or 2 with probabilities 1 - p and p, a
heterozygous call a genotyping error of probability ``error``); under "female" it is diploid in
Hardy-Weinberg proportions. On Y, men have calls and women mostly not. SNPs of X are in linkage
disequilibrium, so their log-likelihood ratios are not independent: the sum is tempered by an
effective number of SNPs learnt on the training people (see :func:`_effective_factor`).

With ``zygosity=True`` only whether an X call is heterozygous counts, not which homozygote it is:
under "female" a call is heterozygous with probability H = 2p(1 - p). That is robust to a file
that pools populations, where a woman homozygous for her own population's common allele would
otherwise count as evidence for "male" (the pooled frequency calls that allele rare).

:func:`genetic_sex` is the caller that needs no trained model: it learns X frequencies from the
people of the file itself when there are many, and otherwise uses a stated prior heterozygosity.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from genoface.core.errors import GenofaceError
from genoface.core.schema import is_x, is_y
from genoface.genetics._qc import DEFAULT_CHUNK, check_chunk, iter_blocks, matrix_shape

log = logging.getLogger(__name__)

#: Columns of :meth:`SexPredictor.predict`.
SEX_COLUMNS = ("p_male", "sex", "log_lr", "n_x", "n_y")
#: Bounds of the allele frequencies and Y call rates, so that no call has probability 0 or 1.
_FREQ_FLOOR = 1e-4
#: Out-of-the-box sex (:func:`genetic_sex`): a file of at least this many people gives its own X
#: allele frequencies (EM, no labels); fewer people use the stated prior values below.
MIN_PEOPLE_FOR_FREQUENCIES = 50
#: A woman's share of heterozygous calls at an X SNP when nothing else is known. Lower than most
#: populations' average at array SNPs (0.25-0.35 in 1000 Genomes), so that a homozygous call is
#: weak evidence for "male" and a heterozygous call strong evidence for "female".
PRIOR_HETEROZYGOSITY = 0.2
#: P(a Y SNP is called | man), P(... | woman) when nothing else is known.
Y_CALL_RATES = (0.99, 0.01)
#: Fewer called X SNPs than this (and no called Y SNP): sex unknown, P(male) the prior.
MIN_X_SNPS = 10
#: A sex is called when P(male) or P(female) reaches this; between: "unknown".
CALL_CONFIDENCE = 0.99
#: Columns of :func:`genetic_sex`.
GENETIC_SEX_COLUMNS = ("p_male", "call", "log_lr", "n_x", "n_x_het", "n_y", "n_y_called", "method")


def _x_llr_table(p: np.ndarray, error: float, zygosity: bool = False) -> np.ndarray:
    """(4, k) log P(call | male) - log P(call | female) for dosage 0, 1, 2 and missing (row 3, 0).

    Male: 0 with (1 - error)(1 - p), 2 with (1 - error) p, 1 with ``error``. Female: Hardy-Weinberg.
    With ``zygosity`` only heterozygous vs homozygous: male 1 - error vs error, female 1 - H vs
    H, H = 2p(1 - p).
    """
    q = 1.0 - p
    if zygosity:
        het = 2.0 * p * q
        hom = np.log1p(-error) - np.log1p(-het)
        return np.stack([hom, np.log(error) - np.log(het), hom, np.zeros_like(p)])
    return np.stack(
        [
            np.log1p(-error) - np.log(q),  # (1-e)q / q²
            np.log(error) - np.log(2.0 * p * q),
            np.log1p(-error) - np.log(p),  # (1-e)p / p²
            np.zeros_like(p),
        ]
    )


def _y_cell_llr(called: np.ndarray, rate_male: np.ndarray, rate_female: np.ndarray) -> np.ndarray:
    """(n, l) log-likelihood ratio male vs female of each Y SNP being called (True) or missing."""
    on = np.log(rate_male) - np.log(rate_female)
    off = np.log1p(-rate_male) - np.log1p(-rate_female)
    return np.where(called, on, off)


def _cell_llr(g: np.ndarray, table: np.ndarray) -> np.ndarray:
    """(n, k) per call log-likelihood ratios: ``table[dosage, column]``, missing calls on row 3."""
    code = np.where(g < 0, 3, g).astype(np.intp)
    return table[code, np.arange(g.shape[1])]


def _effective_snps(n_typed: float, factor: float) -> float:
    """Effective number of independent SNPs of the whole panel, M, from its tempering factor.

    Model: the panel's SNPs fall in M equal LD blocks; n SNPs typed at random then cover
    M (1 - (1 - 1/M)^n) blocks on average (:func:`_effective_count`). M is solved so that the
    panel as typed in training (``n_typed`` SNPs per person) counts ``factor * n_typed`` SNPs.
    Returns inf where the SNPs look independent (factor 1).
    """
    target = factor * n_typed
    if factor >= 1.0 or n_typed <= 1:
        return float("inf")
    if target <= 1.0:
        return 1.0
    lo, hi = 0.0, 40.0  # bisection on log M; the covered count increases with M
    for _ in range(100):
        mid = (lo + hi) / 2
        if _effective_count(np.array([n_typed]), float(np.exp(mid)))[0] < target:
            lo = mid
        else:
            hi = mid
    return float(np.exp((lo + hi) / 2))


def _effective_count(n: np.ndarray, m_eff: float) -> np.ndarray:
    """Expected number of independent SNPs among ``n`` typed out of a panel of ``m_eff`` blocks."""
    n = np.asarray(n, dtype=np.float64)
    if not np.isfinite(m_eff):
        return n
    return m_eff * -np.expm1(n * np.log1p(-1.0 / m_eff)) if m_eff > 1 else np.minimum(n, 1.0)


def _temper(llr: np.ndarray, n: np.ndarray, m_eff: float) -> np.ndarray:
    """Scale each person's summed log-LR over ``n`` SNPs by their effective count / n."""
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(n > 0, _effective_count(n, m_eff) / np.maximum(n, 1), 1.0)
    return llr * factor


def _effective_factor(sums: np.ndarray, snp_var: np.ndarray, weights: np.ndarray) -> float:
    """Tempering factor, 1 / design effect: the summed single-SNP log-LR variances over the
    variance of their sum, both within sex and pooled over the sexes.

    ``sums`` (n,) are the people's summed log-LRs, ``snp_var`` (2,) the per-class sums of the
    single-SNP variances (:func:`_class_var`), ``weights`` (n, 2) the class memberships (labels
    or posteriors). Independent SNPs give 1 and r exact copies of each SNP 1 / r. Within sex, so
    that the difference between the sexes (the signal) does not count as correlation.
    """
    sum_var = _class_var(sums[:, None], weights)
    size = weights.sum(0)
    ok = size >= 2  # a class of fewer than two people has no variance to measure
    num, den = float((size * snp_var)[ok].sum()), float((size * sum_var)[ok].sum())
    if num <= 0 or den <= 0:
        return 1.0
    return min(1.0, num / den)


def _variant_ids(variants: Any, m: int) -> pd.Index:
    ids = variants["id"] if isinstance(variants, pd.DataFrame) else variants
    ids = pd.Index(np.asarray(ids).astype(str))
    if len(ids) != m:
        raise GenofaceError(f"variants has {len(ids)} entries but genotypes have {m} columns")
    if ids.has_duplicates:
        raise GenofaceError(f"variant ids have duplicates, e.g. {list(ids[ids.duplicated()][:3])}; make them unique")
    return ids


def _checked_labels(is_male: Any, n: int) -> np.ndarray | None:
    """``is_male`` as an (n,) array of 0/1, or None when not given."""
    if is_male is None:
        return None
    male = np.asarray(is_male)
    if male.shape != (n,):
        raise GenofaceError(f"is_male has shape {male.shape}, expected ({n},) one True/False per person")
    if male.dtype.kind not in "biu" or not np.isin(male, [0, 1]).all():
        raise GenofaceError("is_male must be True/False (or 1/0) per person; from F/M labels use sex == 'M'")
    return male


def _check_dosages(g: np.ndarray) -> None:
    if g.size and (g.min() < -1 or g.max() > 2):
        raise GenofaceError(f"genotypes must be ALT dosages 0/1/2 or -1 missing, got values {g.min()}..{g.max()}")


class SexPredictor:
    """P(male) from chromosome X zygosity and chromosome Y calls, by a tempered likelihood ratio.

    Parameters
    ----------
    prior : P(male) before seeing genotypes, in (0, 1); also the answer for a person with no
        usable X or Y SNP. Default 0.5.
    error : probability that a man's X genotype is called heterozygous (genotyping error), in
        (0, 0.5). Default 0.01. It bounds how much one heterozygous call counts against "male".
    pseudo_count : added to the ALT and REF allele counts of each X SNP (and to the called and
        missing counts of each Y SNP) before dividing, so that a SNP rare in training gives no
        probability of 0. Default 0.5.
    n_em_iter : EM steps used by :meth:`fit` without ``is_male`` to estimate frequencies and sex
        jointly. Default 5 (thousands of X SNPs settle in two or three).
    temper : learn the effective number of independent SNPs (default True). False treats every
        SNP as independent, which is overconfident where SNPs are in linkage disequilibrium.
    zygosity : count only heterozygous vs homozygous X calls (default False: which homozygote
        counts too, the more powerful choice within one population); see the module docstring.
    chunk : columns read per block.

    Attributes (after :meth:`fit`)
    ----------
    x_snps_ : (k,) str ids of the X SNPs used; x_alt_freq_ : (k,) their ALT frequencies.
    y_snps_ : (l,) str ids of the Y SNPs; y_call_rate_male_, y_call_rate_female_ : (l,).
    x_effective_snps_, y_effective_snps_ : effective number M of independent SNPs of each panel
        (inf: independent), from which a person typed at n of them counts M (1 - (1 - 1/M)^n).
    n_samples_, n_male_ : training people and (expected) men among them.
    """

    def __init__(
        self,
        *,
        prior: float = 0.5,
        error: float = 0.01,
        pseudo_count: float = 0.5,
        n_em_iter: int = 5,
        temper: bool = True,
        zygosity: bool = False,
        chunk: int = DEFAULT_CHUNK,
    ) -> None:
        self.prior = prior
        self.error = error
        self.pseudo_count = pseudo_count
        self.n_em_iter = n_em_iter
        self.temper = temper
        self.zygosity = zygosity
        self.chunk = chunk

    def _check_params(self) -> None:
        if not 0.0 < float(self.prior) < 1.0:
            raise GenofaceError(f"prior must be in (0, 1), got {self.prior}; it is P(male) before genotypes")
        if not 0.0 < float(self.error) < 0.5:
            raise GenofaceError(f"error must be in (0, 0.5), got {self.error}; try 0.01")
        if not float(self.pseudo_count) >= 0.0:
            raise GenofaceError(f"pseudo_count must be >= 0, got {self.pseudo_count}; try 0.5")
        if int(self.n_em_iter) < 1:
            raise GenofaceError(f"n_em_iter must be >= 1, got {self.n_em_iter}")
        check_chunk(self.chunk)

    # ---- fitting ---------------------------------------------------------------------------------

    def fit(self, genotypes: Any, variants: pd.DataFrame, is_male: Any = None) -> SexPredictor:
        """Learn X ALT frequencies, Y call rates by sex and the effective numbers of SNPs.

        ``variants`` needs columns chrom and id. With ``is_male`` ((n,) bool) a man counts one
        allele copy and a woman two, and a man's heterozygous call is left out; without it, sex
        and frequencies are estimated together by ``n_em_iter`` EM steps, starting from
        frequencies that count everyone as diploid (a man's 0/2 then gives the same expected
        frequency). X SNPs never called or monomorphic in training are left out.
        """
        self._check_params()
        n, m = matrix_shape(genotypes)
        if len(variants) != m:
            raise GenofaceError(f"variants has {len(variants)} rows but genotypes have {m} columns")
        ids = _variant_ids(variants, m)
        chrom = np.asarray(variants["chrom"]).astype(str)
        x_cols = np.flatnonzero(is_x(chrom))
        y_cols = np.flatnonzero(is_y(chrom))
        if len(x_cols) == 0:
            raise GenofaceError(f"no chromosome X variants among the {m} given (chrom X, chrX or 23); sex needs them")
        if n < 2:
            raise GenofaceError(f"the sex predictor needs at least 2 training people, got {n}")
        male = _checked_labels(is_male, n)
        alt, tot = self._x_counts(genotypes, x_cols, None)
        keep = (tot > 0) & (alt > 0) & (alt < tot)
        if not keep.any():
            raise GenofaceError(f"no polymorphic, called chromosome X SNP among the {len(x_cols)} on X; sex needs some")
        x_cols = x_cols[keep]
        y_called = np.zeros((n, len(y_cols)), dtype=bool)  # Y panels are small: held whole
        for j0, j1, g in iter_blocks(genotypes, self.chunk, columns=y_cols):
            _check_dosages(g)
            y_called[:, j0:j1] = g >= 0
        if male is not None:
            w = male.astype(np.float64)
            self._m_step(genotypes, x_cols, y_called, w)
        else:
            w = self._em(genotypes, x_cols, y_called, alt[keep], tot[keep])
        self._learn_effective_snps(genotypes, x_cols, y_called, np.column_stack([w, 1.0 - w]))
        self.x_snps_ = np.asarray(ids[x_cols]).astype(str)
        self.y_snps_ = np.asarray(ids[y_cols]).astype(str)
        self.n_samples_ = n
        self.n_male_ = float(w.sum())
        log.info(
            "sex predictor: %d X SNPs (effective %.1f), %d Y SNPs, %d people (%.1f men)",
            len(self.x_snps_),
            self.x_effective_snps_,
            len(self.y_snps_),
            n,
            self.n_male_,
        )
        return self

    def _em(self, genotypes: Any, x_cols: np.ndarray, y_called: np.ndarray, alt: np.ndarray, tot: np.ndarray):
        """Sex and frequencies together without labels: ``n_em_iter`` EM steps from frequencies that
        count everyone as diploid. Returns each person's P(male)."""
        self.x_alt_freq_ = self._freq(alt, tot)
        self._m_step_y(y_called, np.full(len(y_called), 0.5))  # equal rates: Y says nothing in the first E-step
        for _ in range(int(self.n_em_iter)):
            # Untempered: the frequencies need only a confident split, which X gives.
            lx = self._x_pass(genotypes, x_cols, None)[0]
            ly = _y_cell_llr(y_called, self.y_call_rate_male_, self.y_call_rate_female_).sum(1)
            w = expit(logit(self.prior) + lx + ly)
            self._m_step(genotypes, x_cols, y_called, w)
        return w

    def _learn_effective_snps(self, genotypes: Any, x_cols: np.ndarray, y_called: np.ndarray, weights) -> None:
        """The effective numbers of independent X and Y SNPs (inf without ``temper``)."""
        self.x_effective_snps_ = float("inf")
        self.y_effective_snps_ = float("inf")
        if not self.temper:
            return
        sums, n_called, cvar = self._x_pass(genotypes, x_cols, weights)
        self.x_effective_snps_ = _effective_snps(float(n_called.mean()), _effective_factor(sums, cvar, weights))
        if y_called.shape[1]:
            ly = _y_cell_llr(y_called, self.y_call_rate_male_, self.y_call_rate_female_)
            self.y_effective_snps_ = _effective_snps(
                float(y_called.shape[1]), _effective_factor(ly.sum(1), _class_var(ly, weights), weights)
            )

    def _freq(self, alt: np.ndarray, tot: np.ndarray) -> np.ndarray:
        a = float(self.pseudo_count)
        return np.clip((alt + a) / (tot + 2 * a), _FREQ_FLOOR, 1 - _FREQ_FLOOR)

    def _x_counts(self, genotypes: Any, cols: np.ndarray, w: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """ALT allele copies and allele copies called per X SNP, given P(male) ``w`` (None: diploid)."""
        alt = np.zeros(len(cols))
        tot = np.zeros(len(cols))
        for j0, j1, g in iter_blocks(genotypes, self.chunk, columns=cols):
            _check_dosages(g)
            called = g >= 0
            if w is None:
                alt[j0:j1] = np.where(called, g, 0).sum(0, dtype=np.float64)
                tot[j0:j1] = 2.0 * called.sum(0, dtype=np.float64)
                continue
            # A man carries one copy (his 0/2 is 0 or 1 ALT allele); his heterozygous call is an error.
            ok_m = called & (g != 1)
            alt[j0:j1] = w @ np.where(ok_m, g / 2, 0.0) + (1 - w) @ np.where(called, g, 0).astype(np.float64)
            tot[j0:j1] = w @ ok_m.astype(np.float64) + 2.0 * ((1 - w) @ called.astype(np.float64))
        return alt, tot

    def _m_step(self, genotypes: Any, x_cols: np.ndarray, y_called: np.ndarray, w: np.ndarray) -> None:
        self.x_alt_freq_ = self._freq(*self._x_counts(genotypes, x_cols, w))
        self._m_step_y(y_called, w)

    def _m_step_y(self, y_called: np.ndarray, w: np.ndarray) -> None:
        a = float(self.pseudo_count)
        c = y_called.astype(np.float64)
        rates = []
        for wc in (w, 1.0 - w):
            den = wc.sum() + 2 * a
            # A sex absent from training (and no pseudo-count) says nothing: rate 1/2.
            rate = (wc @ c + a) / den if den > 0 else np.full(c.shape[1], 0.5)
            rates.append(np.clip(rate, _FREQ_FLOOR, 1 - _FREQ_FLOOR))
        self.y_call_rate_male_, self.y_call_rate_female_ = rates

    def _x_pass(
        self, genotypes: Any, cols: np.ndarray, weights: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One read of the X columns: per person summed log-LR and calls, and with class
        ``weights`` (n, 2) the per-class sums of the single-SNP log-LR variances."""
        n = matrix_shape(genotypes)[0]
        table = _x_llr_table(self.x_alt_freq_, self.error, bool(self.zygosity))
        sums = np.zeros(n)
        n_called = np.zeros(n, dtype=np.int64)
        cvar = np.zeros(2)
        for j0, j1, g in iter_blocks(genotypes, self.chunk, columns=cols):
            llr = _cell_llr(g, table[:, j0:j1])
            sums += llr.sum(1)
            n_called += (g >= 0).sum(1)
            if weights is not None:
                cvar += _class_var(llr, weights)
        return sums, n_called, cvar

    # ---- prediction ------------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "x_alt_freq_") or not hasattr(self, "x_effective_snps_"):
            raise GenofaceError("this SexPredictor is not fitted yet; call fit(genotypes, variants) first")

    def predict(self, genotypes: Any, variants: Any) -> pd.DataFrame:
        """Per person: ``p_male``, ``sex`` ("M" where p_male >= 0.5, else "F"), the tempered
        ``log_lr`` (male vs female), and ``n_x`` / ``n_y``, the X SNPs called and Y SNPs present
        that were used. SNPs are matched by id (``variants``: a table with column id, or the ids);
        a person with none gets ``prior`` (logged as a warning, not an error)."""
        self._check_fitted()
        self._check_params()
        n, m = matrix_shape(genotypes)
        ids = _variant_ids(variants, m)
        llr = np.zeros(n)
        n_x = np.zeros(n, dtype=np.int64)
        n_y = np.zeros(n, dtype=np.int64)

        pos = ids.get_indexer(self.x_snps_)
        found = np.flatnonzero(pos >= 0)
        if len(found):
            order = np.argsort(pos[found])  # read columns in file order
            found = found[order]
            table = _x_llr_table(self.x_alt_freq_, self.error, bool(self.zygosity))[:, found]
            lx = np.zeros(n)
            for j0, j1, g in iter_blocks(genotypes, self.chunk, columns=pos[found]):
                _check_dosages(g)
                lx += _cell_llr(g, table[:, j0:j1]).sum(1)
                n_x += (g >= 0).sum(1)
            llr += _temper(lx, n_x, self.x_effective_snps_)

        pos = ids.get_indexer(self.y_snps_)
        found = np.flatnonzero(pos >= 0)
        if len(found):
            order = np.argsort(pos[found])
            found = found[order]
            rm, rf = self.y_call_rate_male_[found], self.y_call_rate_female_[found]
            ly = np.zeros(n)
            for j0, j1, g in iter_blocks(genotypes, self.chunk, columns=pos[found]):
                _check_dosages(g)
                ly += _y_cell_llr(g >= 0, rm[j0:j1], rf[j0:j1]).sum(1)
            n_y[:] = len(found)  # a missing Y call is evidence too
            llr += _temper(ly, n_y, self.y_effective_snps_)

        none = (n_x == 0) & (n_y == 0)
        if none.any():
            log.warning(
                "sex: %d of %d people have no called X SNP and no Y SNP of the model (%d X, %d Y SNPs); "
                "they get the prior P(male) = %g",
                none.sum(),
                n,
                len(self.x_snps_),
                len(self.y_snps_),
                self.prior,
            )
        p = expit(logit(self.prior) + llr)
        return pd.DataFrame({"p_male": p, "sex": np.where(p >= 0.5, "M", "F"), "log_lr": llr, "n_x": n_x, "n_y": n_y})

    def predict_proba(self, genotypes: Any, variants: Any) -> np.ndarray:
        """(n,) P(male); see :meth:`predict` for the SNP counts behind it."""
        return self.predict(genotypes, variants)["p_male"].to_numpy()

    # ---- saving ----------------------------------------------------------------------------------

    def to_arrays(self) -> dict[str, Any]:
        """The fitted state as numpy arrays and scalars (``np.savez`` without pickle)."""
        self._check_fitted()
        return {
            "prior": float(self.prior),
            "error": float(self.error),
            "pseudo_count": float(self.pseudo_count),
            "n_em_iter": int(self.n_em_iter),
            "temper": int(bool(self.temper)),
            "zygosity": int(bool(self.zygosity)),
            "chunk": int(self.chunk),
            "x_snps": np.asarray(self.x_snps_, dtype=str),
            "x_alt_freq": np.asarray(self.x_alt_freq_, dtype=np.float64),
            "y_snps": np.asarray(self.y_snps_, dtype=str),
            "y_call_rate_male": np.asarray(self.y_call_rate_male_, dtype=np.float64),
            "y_call_rate_female": np.asarray(self.y_call_rate_female_, dtype=np.float64),
            "x_effective_snps": float(self.x_effective_snps_),
            "y_effective_snps": float(self.y_effective_snps_),
            "n_samples": int(self.n_samples_),
            "n_male": float(self.n_male_),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any]) -> SexPredictor:
        """Rebuild a fitted SexPredictor from :meth:`to_arrays` output."""
        missing = [k for k in (*_SEX_PARAMS, *_SEX_STATE) if k not in arrays]
        if missing:
            raise GenofaceError(f"sex predictor arrays lack {missing}; were they written by SexPredictor.to_arrays?")
        s = {k: np.asarray(arrays[k]).item() for k in (*_SEX_PARAMS, "x_effective_snps", "y_effective_snps")}
        model = cls(
            prior=float(s["prior"]),
            error=float(s["error"]),
            pseudo_count=float(s["pseudo_count"]),
            n_em_iter=int(s["n_em_iter"]),
            temper=bool(s["temper"]),
            # Predictors saved before the zygosity option used the allele-specific model.
            zygosity=bool(np.asarray(arrays.get("zygosity", 0)).item()),
            chunk=int(s["chunk"]),
        )
        model.x_snps_ = np.asarray(arrays["x_snps"]).astype(str)
        model.x_alt_freq_ = np.asarray(arrays["x_alt_freq"], dtype=np.float64)
        model.y_snps_ = np.asarray(arrays["y_snps"]).astype(str)
        model.y_call_rate_male_ = np.asarray(arrays["y_call_rate_male"], dtype=np.float64)
        model.y_call_rate_female_ = np.asarray(arrays["y_call_rate_female"], dtype=np.float64)
        model.x_effective_snps_ = float(s["x_effective_snps"])
        model.y_effective_snps_ = float(s["y_effective_snps"])
        model.n_samples_ = int(np.asarray(arrays["n_samples"]).item())
        model.n_male_ = float(np.asarray(arrays["n_male"]).item())
        k, ly = len(model.x_snps_), len(model.y_snps_)
        if (
            model.x_alt_freq_.shape != (k,)
            or model.y_call_rate_male_.shape != (ly,)
            or model.y_call_rate_female_.shape != (ly,)
        ):
            raise GenofaceError(
                f"sex predictor arrays disagree: {k} X SNPs with {model.x_alt_freq_.shape} frequencies, "
                f"{ly} Y SNPs with call rates {model.y_call_rate_male_.shape} / {model.y_call_rate_female_.shape}"
            )
        return model

    @classmethod
    def from_prior(
        cls,
        variants: pd.DataFrame,
        *,
        heterozygosity: float = PRIOR_HETEROZYGOSITY,
        y_call_rates: tuple[float, float] = Y_CALL_RATES,
        prior: float = 0.5,
        error: float = 0.01,
    ) -> SexPredictor:
        """A predictor over the X and Y SNPs of ``variants`` built from stated values instead of
        training people (for one person's file, or a few people's): every X SNP heterozygous in
        a woman with probability ``heterozygosity`` and in a man with ``error`` (zygosity only,
        SNPs independent); each Y SNP called with probability ``y_call_rates`` = (man, woman),
        and the Y counted as one observation (one non-recombining haplotype: the per-SNP log-LRs
        are averaged, not summed)."""
        if not 0.0 < float(heterozygosity) <= 0.5:
            raise GenofaceError(f"heterozygosity must be in (0, 0.5], got {heterozygosity}; try 0.2")
        rm, rf = (float(r) for r in y_call_rates)
        if not (0.0 < rf < rm < 1.0):
            raise GenofaceError(f"y_call_rates must be (man, woman) with 0 < woman < man < 1, got {y_call_rates}")
        chrom = np.asarray(variants["chrom"]).astype(str)
        ids = _variant_ids(variants, len(variants))
        model = cls(prior=prior, error=error, zygosity=True)
        model._check_params()
        x = is_x(chrom)
        y = is_y(chrom)
        # The ALT frequency whose 2p(1 - p) is the stated heterozygosity (only 2pq is used).
        p = 0.5 * (1.0 - np.sqrt(1.0 - 2.0 * float(heterozygosity)))
        model.x_snps_ = np.asarray(ids[x]).astype(str)
        model.x_alt_freq_ = np.full(int(x.sum()), max(p, _FREQ_FLOOR))
        model.y_snps_ = np.asarray(ids[y]).astype(str)
        model.y_call_rate_male_ = np.full(int(y.sum()), rm)
        model.y_call_rate_female_ = np.full(int(y.sum()), rf)
        model.x_effective_snps_ = float("inf")
        model.y_effective_snps_ = 1.0
        model.n_samples_ = 0
        model.n_male_ = 0.0
        return model

    def __repr__(self) -> str:
        return f"SexPredictor(prior={self.prior}, error={self.error})"


_SEX_PARAMS = ("prior", "error", "pseudo_count", "n_em_iter", "temper", "chunk")  # "zygosity" optional
_SEX_STATE = (
    "x_snps",
    "x_alt_freq",
    "y_snps",
    "y_call_rate_male",
    "y_call_rate_female",
    "x_effective_snps",
    "y_effective_snps",
    "n_samples",
    "n_male",
)


def _class_var(llr: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(2,) per class, the sum over SNPs of the weighted variance of the single-SNP log-LRs."""
    out = np.zeros(weights.shape[1])
    for c in range(weights.shape[1]):
        w = weights[:, c]
        tot = w.sum()
        if tot <= 0:
            continue
        mean = (w @ llr) / tot
        out[c] = float((w @ (llr - mean) ** 2).sum() / tot)
    return out


def genetic_sex(
    genotypes: Any,
    variants: pd.DataFrame,
    *,
    prior: float = 0.5,
    error: float = 0.01,
    heterozygosity: float = PRIOR_HETEROZYGOSITY,
    y_call_rates: tuple[float, float] = Y_CALL_RATES,
    min_people: int = MIN_PEOPLE_FOR_FREQUENCIES,
    min_x_snps: int = MIN_X_SNPS,
    confidence: float = CALL_CONFIDENCE,
) -> pd.DataFrame | None:
    """Genetic sex without a trained model: P(male) and a call per person, from X zygosity and
    Y calls (:class:`SexPredictor` with ``zygosity=True``).

    With at least ``min_people`` people and ``min_x_snps`` X SNPs the file's own X allele
    frequencies and Y call rates are learnt by EM, without labels (``SexPredictor.fit``); with
    fewer people each person is judged alone against the stated ``heterozygosity`` and
    ``y_call_rates`` (:meth:`SexPredictor.from_prior`). Only chromosomes named X and Y count:
    pseudo-autosomal SNPs (named XY by the readers) are diploid in men and are left out.

    Returns one row per person with :data:`GENETIC_SEX_COLUMNS`: ``p_male``; ``call`` "M" / "F"
    where P(male) or P(female) reaches ``confidence``, else "unknown"; the tempered ``log_lr``;
    ``n_x`` called X SNPs, ``n_x_het`` of them heterozygous, ``n_y`` Y SNPs in the file,
    ``n_y_called``; ``method``. A person with fewer than ``min_x_snps`` called X SNPs in a file
    without Y SNPs is "unknown" with P(male) = ``prior``: so few SNPs say more about the
    stated heterozygosity and error rate than about the person. None when the file has no X
    and no Y SNP at all.
    """
    if not 0.5 < float(confidence) < 1.0:
        raise GenofaceError(f"confidence must be in (0.5, 1), got {confidence}; try 0.99")
    n, m = matrix_shape(genotypes)
    chrom = np.asarray(variants["chrom"]).astype(str)
    if len(chrom) != m:
        raise GenofaceError(f"variants has {len(chrom)} rows but genotypes have {m} columns")
    x_cols, y_cols = np.flatnonzero(is_x(chrom)), np.flatnonzero(is_y(chrom))
    if len(x_cols) == 0 and len(y_cols) == 0:
        return None
    counts = _SexChromosomeCounts.of(genotypes, x_cols, y_cols)
    model, method = None, ""
    if n >= int(min_people) and len(x_cols) >= int(min_x_snps):
        model, method = _model_from_file(genotypes, variants, counts, prior=prior, error=error)
    if model is None:
        model = SexPredictor.from_prior(
            variants, heterozygosity=heterozygosity, y_call_rates=y_call_rates, prior=prior, error=error
        )
        method = (
            f"X zygosity at prior heterozygosity {heterozygosity:g} and genotyping error {error:g}; "
            f"Y called with probability {y_call_rates[0]:g} (man) / {y_call_rates[1]:g} (woman), one observation"
        )
    return _sex_table(model.predict(genotypes, variants), counts, method, len(y_cols), prior, min_x_snps, confidence)


def _sex_table(
    res: pd.DataFrame,
    counts: _SexChromosomeCounts,
    method: str,
    n_y: int,
    prior: float,
    min_x_snps: int,
    confidence: float,
) -> pd.DataFrame:
    """:func:`genetic_sex`'s table from the caller's predictions: people with too few X calls (and
    no Y SNP) set back to the prior, and a call where P(male) or P(female) reaches ``confidence``."""
    p, llr = res["p_male"].to_numpy().copy(), res["log_lr"].to_numpy().copy()
    too_few = (counts.n_x < int(min_x_snps)) & (n_y == 0)
    p[too_few], llr[too_few] = prior, 0.0
    if too_few.any():
        log.warning(
            "sex: %d of %d people have fewer than %d called X SNPs and the file has no Y SNP: sex unknown",
            too_few.sum(),
            len(p),
            min_x_snps,
        )
    return pd.DataFrame(
        {
            "p_male": p,
            "call": np.where(p >= confidence, "M", np.where(p <= 1.0 - confidence, "F", "unknown")),
            "log_lr": llr,
            "n_x": counts.n_x,
            "n_x_het": counts.n_het,
            "n_y": n_y,
            "n_y_called": counts.n_y_called,
            "method": np.where(too_few, f"unknown: fewer than {min_x_snps} called X SNPs and no Y SNP", method),
        }
    )


@dataclass
class _SexChromosomeCounts:
    """Per person: called X SNPs, heterozygous X calls, called Y SNPs."""

    n_x: np.ndarray
    n_het: np.ndarray
    n_y_called: np.ndarray

    @classmethod
    def of(cls, genotypes: Any, x_cols: np.ndarray, y_cols: np.ndarray) -> _SexChromosomeCounts:
        n = matrix_shape(genotypes)[0]
        counts = cls(np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64))
        for _, _, g in iter_blocks(genotypes, DEFAULT_CHUNK, columns=x_cols):
            counts.n_x += (g >= 0).sum(1)
            counts.n_het += (g == 1).sum(1)
        for _, _, g in iter_blocks(genotypes, DEFAULT_CHUNK, columns=y_cols):
            counts.n_y_called += (g >= 0).sum(1)
        return counts


def _model_from_file(
    genotypes: Any, variants: pd.DataFrame, counts: _SexChromosomeCounts, *, prior: float, error: float
) -> tuple[SexPredictor | None, str]:
    """A sex caller learnt from the file's own people (and how, in words), or None when the file
    cannot give X frequencies (e.g. no polymorphic X SNP among its people)."""
    try:
        model, err = _fit_on_file(genotypes, variants, counts.n_x, counts.n_het, prior=prior, error=error)
    except GenofaceError as exc:
        log.info("sex: no frequencies from the file (%s); using the stated prior values", exc)
        return None, ""
    n = matrix_shape(genotypes)[0]
    return model, (
        f"X zygosity at this file's own X allele frequencies ({n:,} people, EM without labels), "
        f"genotyping error {err:.2g} learnt from its men"
    )


#: Pseudo-calls of the prior on the men's heterozygous-call (error) rate learnt from a file: the
#: stated ``error`` counts as this many X calls of men.
_ERROR_PSEUDO_CALLS = 100.0
#: Bounds of a learnt error rate: no call gets probability 0, and "men" heterozygous at more
#: than one X call in ten are not men whose rate should be learnt.
_ERROR_BOUNDS = (_FREQ_FLOOR, 0.1)


def _fit_on_file(
    genotypes: Any, variants: pd.DataFrame, n_x: np.ndarray, n_het: np.ndarray, *, prior: float, error: float
) -> tuple[SexPredictor, float]:
    """A zygosity SexPredictor fitted by EM on the file's own people, with the men's
    heterozygous-call rate learnt too: after each fit, the rate among the people as weighted by
    their P(male) (shrunk towards ``error`` by :data:`_ERROR_PSEUDO_CALLS`), then a refit, until
    it moves by less than 10% (at most 4 fits). A file whose men are coded haploid on X has
    (almost) no such calls, and a fixed 1% would make every woman with few heterozygous calls
    look male."""
    err = float(error)
    for _ in range(4):
        model = SexPredictor(prior=prior, error=err, zygosity=True).fit(genotypes, variants)
        w = model.predict_proba(genotypes, variants)
        new = (w @ n_het + _ERROR_PSEUDO_CALLS * float(error)) / (w @ n_x + _ERROR_PSEUDO_CALLS)
        new = float(np.clip(new, *_ERROR_BOUNDS))
        done = abs(np.log(new / err)) < np.log(1.1)
        err = new
        if done:
            break
    return SexPredictor(prior=prior, error=err, zygosity=True).fit(genotypes, variants), err


def fit_sex_caller(genotypes: Any, variants: pd.DataFrame, sex: Any = None) -> SexPredictor | None:
    """The sex caller fitted on training people, with the men's heterozygous-call (error) rate
    learnt from them rather than assumed: a simulated or haploid-coded X has none, a real array
    a few per thousand, and a fixed 1% makes women with few heterozygous calls look male.

    Supervised by ``sex`` (F/M per person, or 1/0) when every person has one: X frequencies by
    sex, and the error rate of the labelled men. Otherwise unsupervised, as :func:`genetic_sex`
    learns from a file (EM on X zygosity). None, with a warning, when the genotypes cannot tell
    sex (no polymorphic chromosome X SNP): callers then use P(male) = 0.5."""
    is_male = None
    if sex is not None:
        labels = pd.Series(np.asarray(sex, dtype=object)).map({"M": 1.0, "F": 0.0, 1: 1.0, 0: 0.0})  # 1 == 1.0
        if labels.notna().all():
            is_male = labels.to_numpy(dtype=float).astype(bool)
    try:
        if is_male is None:
            counts = _SexChromosomeCounts.of(genotypes, *_sex_columns(variants))
            return _fit_on_file(genotypes, variants, counts.n_x, counts.n_het, prior=0.5, error=0.01)[0]
        error = _men_error_rate(genotypes, variants, is_male, default=0.01)
        return SexPredictor(error=error).fit(genotypes, variants, is_male=is_male)
    except GenofaceError as exc:  # e.g. a panel without chromosome X
        log.warning("no genetic sex: %s", exc)
        return None


def _sex_columns(variants: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    chrom = np.asarray(variants["chrom"]).astype(str)
    return np.flatnonzero(is_x(chrom)), np.flatnonzero(is_y(chrom))


def _men_error_rate(genotypes: Any, variants: pd.DataFrame, is_male: np.ndarray, default: float) -> float:
    """The share of heterozygous X calls among labelled men, shrunk towards ``default`` by
    :data:`_ERROR_PSEUDO_CALLS` and kept within :data:`_ERROR_BOUNDS` (as :func:`_fit_on_file`)."""
    counts = _SexChromosomeCounts.of(genotypes, *_sex_columns(variants))
    men = np.asarray(is_male, dtype=bool)
    rate = (counts.n_het[men].sum() + _ERROR_PSEUDO_CALLS * default) / (counts.n_x[men].sum() + _ERROR_PSEUDO_CALLS)
    return float(np.clip(rate, *_ERROR_BOUNDS))
