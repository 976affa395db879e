"""Continental ancestry: the most likely reference population with calibrated probabilities, and
admixture proportions.

The group comes from a multinomial logistic regression on standardized ancestry principal
components (:class:`~genoface.genetics.AncestryPCA`); the proportions q maximize, per person, the
binomial likelihood of their genotypes at the PCA SNPs under the mixture q of the reference
populations' ALT frequencies (supervised ADMIXTURE, frequencies held fixed). The regression is
kept as coefficient arrays and applied with NumPy, so a saved model loads without unpickling.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import softmax

from genoface.core.errors import GenofaceError
from genoface.core.state import with_prefix, without_prefix
from genoface.genetics import DEFAULT_CHUNK, AncestryPCA, check_chunk, iter_blocks, matrix_shape

log = logging.getLogger(__name__)

#: People per block of the admixture fit (bounds its float64 work arrays to rows x SNPs).
_ADMIX_ROWS = 512


class _AdmixtureLikelihood:
    """The binomial log-likelihood of people's genotypes under mixtures q (n, K) of the
    populations' ALT frequencies, and its quadratic (Newton) model."""

    def __init__(self, genotypes: np.ndarray, freqs: np.ndarray) -> None:
        called = genotypes >= 0
        self.freqs = freqs  # (K, m)
        self.alt = np.where(called, genotypes, 0).astype(np.float64)  # ALT copies, 0 where missing
        self.ref = np.where(called, 2 - genotypes, 0).astype(np.float64)

    def loglik(self, q: np.ndarray, rows: Any = slice(None)) -> np.ndarray:
        """(len(q),) log-likelihood of the people ``rows`` at proportions ``q``."""
        mix = q @ self.freqs  # strictly inside (0, 1): F is, and q is on the simplex
        alt_term = np.einsum("ij,ij->i", self.alt[rows], np.log(mix))
        return alt_term + np.einsum("ij,ij->i", self.ref[rows], np.log1p(-mix))

    def quadratic_model(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(lin (n, K), hess (n, K, K)): the log-likelihood about q is lin . x + x' H x / 2 (+ const)."""
        k = self.freqs.shape[0]
        mix = q @ self.freqs
        grad = (self.alt / mix - self.ref / (1.0 - mix)) @ self.freqs.T
        w = self.alt / mix**2 + self.ref / (1.0 - mix) ** 2
        hess = -np.einsum("ij,kj,lj->ikl", w, self.freqs, self.freqs)
        # A tiny ridge keeps the systems solvable where populations' frequencies coincide.
        ridge = 1e-10 * np.maximum(np.abs(np.einsum("ikk->i", hess)), 1.0)
        hess -= ridge[:, None, None] * np.eye(k)
        lin = grad - np.einsum("ikl,il->ik", hess, q)
        return lin, hess


def admixture_proportions(
    genotypes: np.ndarray,
    freqs: np.ndarray,
    *,
    max_iter: int = 100,
    tol: float = 1e-8,
) -> tuple[np.ndarray, np.ndarray]:
    """Per person mixture proportions q over K populations with known ALT frequencies.

    Maximizes the binomial log-likelihood sum_j [g log f + (2 - g) log(1 - f)], f = sum_k q_k F_kj,
    over q on the simplex (supervised ADMIXTURE with F fixed; Alexander et al. 2009), for all
    people at once; missing calls (-1) are skipped. The likelihood is concave in q, so each step
    maximizes its quadratic (Newton) model on the simplex exactly, by trying every support of q
    (2^K - 1 small linear systems; K is a handful of continental groups), then halves the step
    until the likelihood rises. EM would do too but crawls where a proportion heads for 0.

    Parameters
    ----------
    genotypes : (n, m) int8 ALT dosages 0/1/2, -1 missing.
    freqs : (K, m) ALT frequencies, strictly inside (0, 1).
    max_iter : Newton steps at most.
    tol : stop when no person's log-likelihood rises by more than ``tol`` in a step.

    Returns
    -------
    q : (n, K), rows summing to 1; NaN for a person without a called SNP.
    n_called : (n,) int64 SNPs called per person.
    """
    g = np.asarray(genotypes)
    f_pop = np.asarray(freqs, dtype=np.float64)
    n, m = g.shape
    k = f_pop.shape[0]
    assert f_pop.shape == (k, m), (f_pop.shape, g.shape)
    n_called = (g >= 0).sum(1)
    model = _AdmixtureLikelihood(g, f_pop)
    supports = [np.flatnonzero([(s >> i) & 1 for i in range(k)]) for s in range(1, 2**k)]
    q = np.full((n, k), 1.0 / k)
    ll = model.loglik(q)
    for _ in range(int(max_iter)):
        lin, hess = model.quadratic_model(q)
        step = _simplex_maximum(q, lin, hess, supports) - q
        t, new_ll = _halve_until_better(model, q, step, ll)
        moved = new_ll >= ll
        gain = np.where(moved, new_ll - ll, 0.0)
        q = np.where(moved[:, None], q + t[:, None] * step, q)
        q = np.maximum(q, 0.0)
        q /= q.sum(1, keepdims=True)
        ll = np.where(moved, new_ll, ll)
        if n == 0 or gain.max() <= tol:
            break
    q[n_called == 0] = np.nan
    return q, n_called


def _simplex_maximum(q: np.ndarray, lin: np.ndarray, hess: np.ndarray, supports: list[np.ndarray]) -> np.ndarray:
    """Per person, the maximum of lin . x + x' H x / 2 over the simplex (q where nothing beats it):
    the best of the maxima on each support whose solution is feasible."""
    n, k = q.shape
    best = q.copy()
    best_val = np.einsum("ik,ik->i", lin, q) + 0.5 * np.einsum("ik,ikl,il->i", q, hess, q)
    for sup in supports:
        s = len(sup)
        # KKT of max lin_S x + x' H_SS x / 2 subject to sum x = 1: [H_SS 1; 1' 0][x; l] = [-lin_S; 1].
        mat = np.zeros((n, s + 1, s + 1))
        mat[:, :s, :s] = hess[:, sup][:, :, sup]
        mat[:, :s, s] = 1.0
        mat[:, s, :s] = 1.0
        rhs = np.concatenate([-lin[:, sup], np.ones((n, 1))], axis=1)
        x_s = np.linalg.solve(mat, rhs[..., None])[:, :s, 0]
        x = np.zeros((n, k))
        x[:, sup] = x_s
        val = np.einsum("ik,ik->i", lin, x) + 0.5 * np.einsum("ik,ikl,il->i", x, hess, x)
        take = (x_s >= 0).all(1) & (val > best_val)
        best[take], best_val[take] = x[take], val[take]
    return best


def _halve_until_better(
    model: _AdmixtureLikelihood, q: np.ndarray, step: np.ndarray, ll: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per person, the step fraction t (1, halved up to 30 times while the log-likelihood falls
    below ``ll``) and the log-likelihood at q + t step."""
    t = np.ones(len(q))
    new_ll = model.loglik(q + step)
    for _ in range(30):
        worse = new_ll < ll
        if not worse.any():
            break
        t[worse] /= 2
        new_ll[worse] = model.loglik(q[worse] + t[worse, None] * step[worse], worse)
    return t, new_ll


class AncestryModel:
    """Most likely reference population (calibrated probabilities) and admixture proportions.

    Parameters
    ----------
    n_components : ancestry principal components fed to the classifier. Default 10.
    min_maf : SNP filter of the PCA (as :class:`AncestryPCA`).
    C : inverse L2 strength of the multinomial logistic regression on standardized PCs. Default
        1.0; smaller gives softer probabilities.
    pseudo_count : added to each population's ALT and REF allele counts at each SNP, so that an
        allele unseen in a reference population keeps a small frequency. Default 0.5.
    min_population_size : fewest training people per population. Default 5.
    max_iter, tol : admixture fit settings (:func:`admixture_proportions`).
    random_state : seed of the randomized SVD.
    chunk : columns read per block.

    Attributes (after :meth:`fit`)
    ----------
    pca_ : the fitted :class:`AncestryPCA`; its ``snps_`` are the SNPs of the model.
    populations_ : (K,) str, sorted.
    pop_alt_freq_ : (K, k) ALT frequency of each population at the PCA SNPs.
    pc_mean_, pc_scale_ : (n_components,) standardization of the scores before the regression.
    coef_ : (K, n_components), intercept_ : (K,) softmax regression (two populations are kept
        in the same K-row form).
    n_samples_ : training people.
    """

    def __init__(
        self,
        n_components: int = 10,
        *,
        min_maf: float = 0.01,
        C: float = 1.0,
        pseudo_count: float = 0.5,
        min_population_size: int = 5,
        max_iter: int = 100,
        tol: float = 1e-8,
        random_state: int = 0,
        chunk: int = DEFAULT_CHUNK,
    ) -> None:
        self.n_components = n_components
        self.min_maf = min_maf
        self.C = C
        self.pseudo_count = pseudo_count
        self.min_population_size = min_population_size
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.chunk = chunk

    def _check_params(self) -> None:
        if int(self.n_components) < 1:
            raise GenofaceError(f"n_components must be >= 1, got {self.n_components}")
        if not float(self.C) > 0:
            raise GenofaceError(f"C must be > 0, got {self.C}; try 1.0")
        if not float(self.pseudo_count) > 0:
            raise GenofaceError(f"pseudo_count must be > 0, got {self.pseudo_count}; try 0.5")
        if int(self.min_population_size) < 2:
            raise GenofaceError(f"min_population_size must be >= 2, got {self.min_population_size}")
        if int(self.max_iter) < 1 or not float(self.tol) > 0:
            raise GenofaceError(f"need max_iter >= 1 and tol > 0, got max_iter={self.max_iter}, tol={self.tol}")
        check_chunk(self.chunk)

    def fit(self, genotypes: Any, variants: pd.DataFrame, populations: Any) -> AncestryModel:
        """Learn the PCA, the classifier and the populations' allele frequencies.

        ``populations`` holds one label per person (e.g. "YRI", "CEU", "CHB"); at least two
        populations of at least ``min_population_size`` people each.
        """
        self._check_params()
        n, m = matrix_shape(genotypes)
        pops, idx, counts = self._check_labels(populations, n)
        pca = AncestryPCA(
            int(self.n_components), min_maf=self.min_maf, random_state=self.random_state, chunk=self.chunk
        )
        scores = pca.fit_transform(genotypes, variants)
        cols = pd.Index(np.asarray(variants["id"]).astype(str)).get_indexer(pca.snps_)
        assert (cols >= 0).all()
        freq = self._population_frequencies(genotypes, cols, idx, len(pops))
        mean, scale, coef, intercept = self._fit_classifier(scores, idx, len(pops))

        self.pca_ = pca
        self.populations_ = pops.astype(str)
        self.pop_alt_freq_ = freq
        self.pc_mean_ = mean
        self.pc_scale_ = scale
        self.coef_ = np.asarray(coef, dtype=np.float64)
        self.intercept_ = np.asarray(intercept, dtype=np.float64)
        self.n_samples_ = n
        log.info("ancestry model: %d people of %s on %d SNPs", n, dict(zip(pops, counts, strict=True)), len(cols))
        return self

    def _check_labels(self, populations: Any, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The populations (sorted), each person's index into them, and people per population;
        refused unless every person has a label and at least two populations are large enough."""
        labels = np.asarray(populations, dtype=object)
        if labels.shape != (n,):
            raise GenofaceError(f"populations has {labels.size} labels but genotypes have {n} people; give one each")
        bad = pd.isna(labels) | (labels.astype(str) == "")
        if bad.any():
            raise GenofaceError(f"{int(bad.sum())} people have no population label (e.g. row {np.flatnonzero(bad)[0]})")
        labels = labels.astype(str)
        pops, idx, counts = np.unique(labels, return_inverse=True, return_counts=True)
        if len(pops) < 2:
            raise GenofaceError(f"ancestry needs at least 2 populations, got {len(pops)} ({', '.join(pops)})")
        small = counts < int(self.min_population_size)
        if small.any():
            raise GenofaceError(
                f"population {pops[small][0]} has {counts[small][0]} people, fewer than "
                f"min_population_size={self.min_population_size}; add people or drop it"
            )
        return pops, idx, counts

    def _population_frequencies(self, genotypes: Any, cols: np.ndarray, idx: np.ndarray, n_pops: int) -> np.ndarray:
        """(K, len(cols)) ALT frequency of each population at the columns ``cols`` (read in file
        order), with ``pseudo_count`` added to the ALT and REF counts."""
        onehot = np.zeros((len(idx), n_pops))
        onehot[np.arange(len(idx)), idx] = 1.0
        order = np.argsort(cols)
        alt = np.zeros((n_pops, len(cols)))
        tot = np.zeros((n_pops, len(cols)))
        for j0, j1, g in iter_blocks(genotypes, self.chunk, columns=cols[order]):
            sel = order[j0:j1]
            ok = g >= 0
            alt[:, sel] = onehot.T @ np.where(ok, g, 0).astype(np.float64)
            tot[:, sel] = 2.0 * (onehot.T @ ok.astype(np.float64))
        a = float(self.pseudo_count)
        return (alt + a) / (tot + 2 * a)

    def _fit_classifier(
        self, scores: np.ndarray, idx: np.ndarray, n_pops: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Standardization of the PC scores (mean, scale) and the softmax regression on them
        (coef (K, d), intercept (K,)) predicting the population index ``idx``."""
        from sklearn.linear_model import LogisticRegression

        mean = scores.mean(0)
        scale = scores.std(0)
        scale[scale == 0] = 1.0
        clf = LogisticRegression(C=float(self.C), max_iter=5000)
        clf.fit((scores - mean) / scale, idx)
        coef, intercept = clf.coef_, clf.intercept_
        if n_pops == 2:
            # sklearn keeps one row for two classes: sigmoid(z) = softmax([-z/2, z/2])[1].
            coef = np.vstack([-coef / 2, coef / 2])
            intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
        return mean, scale, coef, intercept

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise GenofaceError("this AncestryModel is not fitted yet; call fit(genotypes, variants, populations)")

    def predict_proba(self, genotypes: Any, variant_ids: Any) -> np.ndarray:
        """(n, K) posterior probability of each population (columns in ``populations_`` order)."""
        self._check_fitted()
        return self._proba(self.pca_.transform(genotypes, variant_ids))

    def _proba(self, scores: np.ndarray) -> np.ndarray:
        z = (scores - self.pc_mean_) / self.pc_scale_
        return softmax(z @ self.coef_.T + self.intercept_, axis=1)

    def predict(self, genotypes: Any, variant_ids: Any, *, sample_ids: Any = None) -> pd.DataFrame:
        """One row per person (indexed by ``sample_ids`` when given): ``population`` (most
        likely), ``p_<POP>`` probabilities, ``q_<POP>`` admixture proportions, ``pc1..pck``
        and ``n_snps_used``, the model's SNPs present and called.

        SNPs are matched by id; a model SNP absent from the input or a missing call counts as the
        training mean in the PCs and is skipped by the admixture EM. A person with no called
        model SNP gets NaN probabilities and proportions and population "" (logged).
        """
        self._check_fitted()
        self._check_params()
        n, m = matrix_shape(genotypes)
        ids = pd.Index(np.asarray(variant_ids).astype(str))
        scores = self.pca_.transform(genotypes, ids)  # also checks ids (length, duplicates, overlap)
        prob = self._proba(scores)

        pos = ids.get_indexer(self.pca_.snps_)
        found = np.flatnonzero(pos >= 0)
        found = found[np.argsort(pos[found])]  # read columns in file order
        if len(found) < len(self.pca_.snps_):
            log.info("ancestry: %d of the model's %d SNPs are in the input", len(found), len(self.pca_.snps_))
        freq = self.pop_alt_freq_[:, found]
        g = np.empty((n, len(found)), dtype=np.int8)
        for j0, j1, block in iter_blocks(genotypes, self.chunk, columns=pos[found]):
            g[:, j0:j1] = block
        q = np.empty((n, len(self.populations_)))
        used = np.empty(n, dtype=np.int64)
        for r0 in range(0, n, _ADMIX_ROWS):
            r1 = min(r0 + _ADMIX_ROWS, n)
            q[r0:r1], used[r0:r1] = admixture_proportions(g[r0:r1], freq, max_iter=self.max_iter, tol=self.tol)

        none = used == 0
        prob[none] = np.nan
        if none.any():
            log.warning("ancestry: %d of %d people have no called SNP of the model; left unassigned", none.sum(), n)
        best = np.where(none, "", self.populations_[np.argmax(np.nan_to_num(prob, nan=0.0), axis=1)])
        out = {"population": best}
        out.update({f"p_{p}": prob[:, i] for i, p in enumerate(self.populations_)})
        out.update({f"q_{p}": q[:, i] for i, p in enumerate(self.populations_)})
        out.update({f"pc{i + 1}": scores[:, i] for i in range(scores.shape[1])})
        out["n_snps_used"] = used
        index = None if sample_ids is None else pd.Index(np.asarray(sample_ids).astype(str), name="sample_id")
        if index is not None and len(index) != n:
            raise GenofaceError(f"sample_ids has {len(index)} entries but genotypes have {n} people")
        return pd.DataFrame(out, index=index)

    # ---- saving ----------------------------------------------------------------------------------

    def to_arrays(self) -> dict[str, Any]:
        """The fitted state as numpy arrays and scalars (``np.savez`` without pickle); the PCA's
        arrays carry the prefix ``pca_``."""
        self._check_fitted()
        return {
            **{k: (int(getattr(self, k)) if k in _INT_PARAMS else float(getattr(self, k))) for k in _PARAMS},
            **with_prefix(self.pca_.to_arrays(), "pca"),
            "populations": np.asarray(self.populations_, dtype=str),
            "pop_alt_freq": self.pop_alt_freq_,
            "pc_mean": self.pc_mean_,
            "pc_scale": self.pc_scale_,
            "coef": self.coef_,
            "intercept": self.intercept_,
            "n_samples": int(self.n_samples_),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any]) -> AncestryModel:
        """Rebuild a fitted AncestryModel from :meth:`to_arrays` output."""
        missing = [k for k in (*_PARAMS, *_STATE) if k not in arrays]
        if missing:
            raise GenofaceError(f"ancestry model arrays lack {missing}; were they written by AncestryModel.to_arrays?")
        params = {k: np.asarray(arrays[k]).item() for k in _PARAMS}
        model = cls(**{k: (int(v) if k in _INT_PARAMS else float(v)) for k, v in params.items()})
        model.pca_ = AncestryPCA.from_arrays(without_prefix(arrays, "pca"))
        model.populations_ = np.asarray(arrays["populations"]).astype(str)
        model.pop_alt_freq_ = np.asarray(arrays["pop_alt_freq"], dtype=np.float64)
        model.pc_mean_ = np.asarray(arrays["pc_mean"], dtype=np.float64)
        model.pc_scale_ = np.asarray(arrays["pc_scale"], dtype=np.float64)
        model.coef_ = np.asarray(arrays["coef"], dtype=np.float64)
        model.intercept_ = np.asarray(arrays["intercept"], dtype=np.float64)
        model.n_samples_ = int(np.asarray(arrays["n_samples"]).item())
        k, d, s = len(model.populations_), model.pca_.n_components, len(model.pca_.snps_)
        if (
            model.pop_alt_freq_.shape != (k, s)
            or model.coef_.shape != (k, d)
            or model.intercept_.shape != (k,)
            or model.pc_mean_.shape != (d,)
            or model.pc_scale_.shape != (d,)
        ):
            raise GenofaceError(
                f"ancestry model arrays disagree: {k} populations, {s} SNPs, {d} components but "
                f"pop_alt_freq {model.pop_alt_freq_.shape}, coef {model.coef_.shape}"
            )
        return model

    def __repr__(self) -> str:
        return f"AncestryModel(n_components={self.n_components}, C={self.C})"


_PARAMS = (
    "n_components",
    "min_maf",
    "C",
    "pseudo_count",
    "min_population_size",
    "max_iter",
    "tol",
    "random_state",
    "chunk",
)
_INT_PARAMS = frozenset({"n_components", "min_population_size", "max_iter", "random_state", "chunk"})
_STATE = ("pca_snps", "populations", "pop_alt_freq", "pc_mean", "pc_scale", "coef", "intercept", "n_samples")
