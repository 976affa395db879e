"""The demographic part of ``bayes``, not shrunk: genetic sex, ancestry PCs, age (linear,
quadratic or a cubic spline, whichever the multivariate BIC prefers) and BMI, with the age and
BMI terms by sex where a likelihood-ratio test says the data support it. Least squares, so that the sparse and polygenic parts shrink only what is genetic.

What is not known of a person is integrated out rather than imputed: given the recorded values
(if any) and each sex, age and BMI are drawn from their joint distribution among the training
people of that sex (Gaussian on the spline basis, so knowing the age moves the expected BMI),
and an uncertain genetic sex mixes the two. The predictive mean of the shape scores and the
covariance that the unknowns add come out in closed form.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import numpy as np
from scipy.stats import chi2
from sklearn.preprocessing import SplineTransformer

from genoface.features import PersonFeatures

#: Candidate bases of the age effect, simplest first.
_AGE_BASES = ("linear", "quadratic", "spline")
#: p-value below which the age and BMI terms get their own slopes by sex.
_INTERACTION_P = 0.01


class CovariatePart:
    """Least squares of the shape scores on the demographic design, and the moments of age and
    BMI by sex, jointly with the ancestry PCs, that integrate out what a person's record lacks
    (given the PCs: where populations differ in age or BMI, a genome's ancestry tells which).

    Parameters
    ----------
    n_knots : knots of the age spline (at quantiles of the training ages).
    """

    def __init__(self, n_knots: int = 4) -> None:
        self.n_knots = int(n_knots)

    # ---- the basis ---------------------------------------------------------------------------------

    def _spline(self) -> SplineTransformer:
        spline = SplineTransformer(knots=self.knots_[:, None], degree=3, extrapolation="linear", include_bias=False)
        return spline.fit(self.knots_[:, None])

    def _basis(self, age: np.ndarray, bmi: np.ndarray) -> np.ndarray:
        """(n, q): the age basis (``age_basis_``) and standardized BMI (rows with NaN give NaN)."""
        ok = ~np.isnan(age)
        t = (age - self.age_moments_[0]) / self.age_moments_[1]
        if self.age_basis_ == "linear":
            a = t[:, None]
        elif self.age_basis_ == "quadratic":
            a = np.column_stack([t, t**2])
        else:
            a = np.full((len(age), self.n_age_), np.nan)
            if ok.any():
                a[ok] = self._spline().transform(age[ok, None])
        return np.column_stack([a, (bmi - self.bmi_moments_[0]) / self.bmi_moments_[1]])

    def _design(self, male: np.ndarray, pcs: np.ndarray, u: np.ndarray) -> np.ndarray:
        cols = [np.ones(len(male)), male, pcs, u]
        if self.interactions_:
            cols.append(male[:, None] * u)
        return np.column_stack(cols)

    # ---- fitting -------------------------------------------------------------------------------------

    def fit(self, people: PersonFeatures, y: np.ndarray) -> Self:
        """Knots, BMI scale and the age/BMI moments by sex from the training people with both
        recorded; the interaction test on ``y`` (their shape scores)."""
        full = people.complete
        age, bmi = people.age[full], people.bmi[full]
        self.knots_ = np.unique(np.quantile(age, np.linspace(0, 1, self.n_knots)))
        self.bmi_moments_ = (float(bmi.mean()), float(bmi.std()) or 1.0)
        self.age_moments_ = (float(age.mean()), float(age.std()) or 1.0)
        self.n_age_ = self._spline().transform(self.knots_[:1, None]).shape[1]
        self.interactions_ = False
        self.age_basis_ = self._choose_age_basis(people, y)
        u = self._basis(age, bmi)
        self.n_basis_ = u.shape[1]
        joint = np.column_stack([u, people.pcs[full]])  # the basis, then the PCs
        male = people.male[full] >= 0.5
        self.u_mean_ = np.stack([joint[male == s].mean(0) if (male == s).sum() > 1 else joint.mean(0) for s in (0, 1)])
        self.u_cov_ = np.stack(
            [np.cov(joint[male == s] if (male == s).sum() > joint.shape[1] else joint, rowvar=False) for s in (0, 1)]
        )
        without = self._design(people.male[full], people.pcs[full], u)
        self.interactions_ = True
        with_ = self._design(people.male[full], people.pcs[full], u)
        self.interaction_p_ = _lr_test(without, with_, y[full])
        self.interactions_ = bool(self.interaction_p_ < _INTERACTION_P)
        return self

    def _choose_age_basis(self, people: PersonFeatures, y: np.ndarray) -> str:
        """The age basis with the best multivariate BIC: linear, quadratic, or the cubic spline.
        More flexible bases cost d parameters per column, so they win only where the data show
        the curvature."""
        full = people.complete
        best, best_bic = "linear", np.inf
        n, d = int(full.sum()), y.shape[1]
        for basis in _AGE_BASES:
            self.age_basis_ = basis
            x = self._design(people.male[full], people.pcs[full], self._basis(people.age[full], people.bmi[full]))
            resid = y[full] - x @ np.linalg.lstsq(x, y[full], rcond=None)[0]
            bic = n * np.linalg.slogdet(resid.T @ resid / n)[1] + x.shape[1] * d * np.log(n)
            if bic < best_bic:
                best, best_bic = basis, bic
        return best

    def fit_coef(self, people: PersonFeatures, y: np.ndarray) -> np.ndarray:
        """Least-squares coefficients on the people with age and BMI; returns the fitted
        contribution of every person (its predictive mean for those without)."""
        full = people.complete
        x = self._design(people.male[full], people.pcs[full], self._basis(people.age[full], people.bmi[full]))
        self.coef_ = np.linalg.lstsq(x, y[full], rcond=None)[0]
        self.n_columns_ = x.shape[1]
        return self.moments(people)[0]

    # ---- prediction ------------------------------------------------------------------------------------

    def moments(self, people: PersonFeatures) -> tuple[np.ndarray, np.ndarray]:
        """Predictive mean (n, d) of the covariate contribution and its covariance (n, d, d) from
        what is unknown (age, BMI, sex), given what the record holds."""
        n = len(people.male)
        age = people.age if people.age is not None else np.full(n, np.nan)
        bmi = people.bmi if people.bmi is not None else np.full(n, np.nan)
        known = np.column_stack([self._basis(age, bmi), people.pcs])
        q, d = self.n_basis_, self.coef_.shape[1]
        out_mean = np.zeros((n, d))
        out_cov = np.zeros((n, d, d))
        p_male = np.clip(people.male, 0.0, 1.0)
        means = []
        for s in (0, 1):
            eu, cu = _conditional(self.u_mean_[s], self.u_cov_[s], known)
            eu, cu = eu[:, :q], cu[:, :q, :q]
            sex = np.full(n, float(s))
            mean = self._design(sex, people.pcs, eu) @ self.coef_
            slope = self._u_slope(s)  # (q, d)
            cov = np.einsum("qd,nqr,re->nde", slope, cu, slope)
            weight = p_male if s else 1 - p_male
            out_mean += weight[:, None] * mean
            out_cov += weight[:, None, None] * cov
            means.append(mean)
        gap = means[1] - means[0]
        out_cov += (p_male * (1 - p_male))[:, None, None] * np.einsum("nd,ne->nde", gap, gap)
        return out_mean, out_cov

    def _u_slope(self, sex: int) -> np.ndarray:
        """(q, d): how the age/BMI basis moves the scores for this sex."""
        q = self.n_basis_
        start = self.coef_.shape[0] - q * (2 if self.interactions_ else 1)
        slope = self.coef_[start : start + q]
        if self.interactions_ and sex:
            slope = slope + self.coef_[start + q :]
        return slope

    # ---- the array-state protocol ------------------------------------------------------------------

    def to_arrays(self) -> dict[str, Any]:
        return {
            "n_knots": self.n_knots,
            "knots": self.knots_,
            "bmi_moments": list(self.bmi_moments_),
            "n_age": self.n_age_,
            "n_basis": self.n_basis_,
            "age_basis": self.age_basis_,
            "age_moments": list(self.age_moments_),
            "u_mean": self.u_mean_,
            "u_cov": self.u_cov_,
            "interactions": self.interactions_,
            "interaction_p": float(self.interaction_p_),
            "coef": self.coef_,
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, Any]) -> Self:
        part = cls(n_knots=int(arrays["n_knots"]))
        part.knots_ = np.asarray(arrays["knots"], dtype=np.float64)
        part.bmi_moments_ = tuple(float(x) for x in arrays["bmi_moments"])
        part.n_age_ = int(arrays["n_age"])
        part.n_basis_ = int(arrays["n_basis"])
        part.age_basis_ = str(arrays["age_basis"])
        part.age_moments_ = tuple(float(x) for x in arrays["age_moments"])
        part.u_mean_, part.u_cov_ = np.asarray(arrays["u_mean"]), np.asarray(arrays["u_cov"])
        part.interactions_ = bool(arrays["interactions"])
        part.interaction_p_ = float(arrays["interaction_p"])
        part.coef_ = np.asarray(arrays["coef"], dtype=np.float64)
        return part


def _conditional(mean: np.ndarray, cov: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian conditioning of the basis on its known entries (NaN = unknown), person by
    pattern of what is known: (n, q) means and (n, q, q) covariances."""
    n, q = known.shape
    out_mean = np.empty((n, q))
    out_cov = np.zeros((n, q, q))
    patterns = ~np.isnan(known)
    for pattern in np.unique(patterns, axis=0):
        rows = (patterns == pattern).all(1)
        k, u = np.flatnonzero(pattern), np.flatnonzero(~pattern)
        m = np.tile(mean, (rows.sum(), 1))
        m[:, k] = known[np.ix_(rows, k)]
        if len(u):
            if len(k):
                gain = np.linalg.lstsq(cov[np.ix_(k, k)], cov[np.ix_(k, u)], rcond=None)[0]  # (k, u)
                m[:, u] = mean[u] + (known[np.ix_(rows, k)] - mean[k]) @ gain
                c = cov[np.ix_(u, u)] - cov[np.ix_(u, k)] @ gain
            else:
                c = cov[np.ix_(u, u)]
            out_cov[np.ix_(np.flatnonzero(rows), u, u)] = (c + c.T) / 2
        out_mean[rows] = m
    return out_mean, out_cov


def _lr_test(x0: np.ndarray, x1: np.ndarray, y: np.ndarray) -> float:
    """p-value of the multivariate likelihood-ratio test of the nested least-squares designs
    ``x0`` inside ``x1`` (Bartlett's chi-square approximation of Wilks' lambda)."""
    n, d = y.shape
    logdet = []
    for x in (x0, x1):
        resid = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
        logdet.append(np.linalg.slogdet(resid.T @ resid)[1])
    extra = x1.shape[1] - x0.shape[1]
    stat = (n - x1.shape[1] - (d - extra + 1) / 2) * (logdet[0] - logdet[1])
    return float(chi2.sf(max(stat, 0.0), d * extra))
