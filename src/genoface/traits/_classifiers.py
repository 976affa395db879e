"""The two model forms every trait prediction uses: a multinomial logistic regression for a
categorical trait (the IrisPlex / HIrisPlex-S form) and a Gaussian regression for a
quantitative one (height), each giving probabilities or an interval, saved as plain arrays."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.special import softmax
from sklearn.linear_model import LogisticRegression, Ridge, RidgeCV
from sklearn.model_selection import KFold

from genoface.core.errors import GenofaceError


def _column_means(x: np.ndarray) -> np.ndarray:
    """Means of the observed values per column (0 for a column with none)."""
    seen = ~np.isnan(x)
    return np.where(seen, x, 0.0).sum(axis=0) / np.maximum(seen.sum(axis=0), 1)


def _impute(x: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """Missing features (NaN) take the training mean: the expected value of an untyped SNP."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(np.isnan(x), fill[None, :], x)


class CategoricalTrait:
    """P(category | features) by multinomial logistic regression, written in the IrisPlex form:
    ``log(P(c) / P(reference)) = intercept_[c] + coef_[c] @ x`` with the reference row zero.

    Parameters
    ----------
    categories : every category, in display order (e.g. blue, intermediate, brown).
    reference : the category the log-odds are taken against (IrisPlex: brown); default the most
        frequent one in the training labels.
    C : inverse L2 strength of the fit (scikit-learn's); the default barely shrinks a panel of
        tens of SNPs fitted on hundreds of people, which keeps the probabilities calibrated.

    Attributes: ``intercept_`` (C,), ``coef_`` (C, k), ``fill_`` (k,) training means used for
    missing features.
    """

    def __init__(self, categories: Sequence[str], reference: str | None = None, C: float = 1.0) -> None:
        self.categories = [str(c) for c in categories]
        self.reference = None if reference is None else str(reference)
        if self.reference is not None and self.reference not in self.categories:
            raise GenofaceError(f"reference category {self.reference!r} is not one of {self.categories}")
        self.C = C

    def fit(self, x: np.ndarray, labels: Sequence[str]) -> CategoricalTrait:
        x = np.asarray(x, dtype=np.float64)
        labels = np.asarray(labels, dtype=str)
        unknown = sorted(set(labels) - set(self.categories))
        if unknown:
            raise GenofaceError(f"unknown categories {unknown[:5]}; expected one of {self.categories}")
        seen = [c for c in self.categories if c in set(labels)]
        if len(seen) < 2:
            raise GenofaceError(f"a trait model needs at least two observed categories, got {seen}")
        if self.reference is None:
            values, counts = np.unique(labels, return_counts=True)
            self.reference = str(values[counts.argmax()])
        elif self.reference not in seen:
            raise GenofaceError(f"the reference category {self.reference!r} never occurs in the training labels")
        self.fill_ = _column_means(x)
        fit = LogisticRegression(C=float(self.C), max_iter=2000).fit(_impute(x, self.fill_), labels)
        coef = np.zeros((len(self.categories), x.shape[1]))
        intercept = np.full(len(self.categories), -np.inf)  # a category never seen has probability 0
        if len(fit.classes_) == 2:  # scikit-learn keeps one row for two classes: the second's log-odds
            rows = {fit.classes_[0]: (np.zeros(x.shape[1]), 0.0), fit.classes_[1]: (fit.coef_[0], fit.intercept_[0])}
        else:
            rows = {c: (fit.coef_[i], fit.intercept_[i]) for i, c in enumerate(fit.classes_)}
        for i, c in enumerate(self.categories):
            if c in rows:
                coef[i], intercept[i] = rows[c]
        ref = self.categories.index(self.reference)  # re-express against the reference category
        coef -= coef[ref]
        intercept = intercept - intercept[ref]
        self.coef_, self.intercept_ = coef, intercept
        return self

    def decision(self, x: np.ndarray) -> np.ndarray:
        """(n, C) log-odds against the reference category."""
        self._check_fitted()
        return _impute(x, self.fill_) @ self.coef_.T + self.intercept_[None, :]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(n, C) probabilities over ``categories``."""
        return softmax(self.decision(x), axis=1)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.categories)[self.predict_proba(x).argmax(axis=1)]

    @classmethod
    def from_coefficients(
        cls, categories: Sequence[str], reference: str, intercepts: dict[str, float], coefficients: dict[str, list]
    ) -> CategoricalTrait:
        """A model with given coefficients (e.g. a published table): log-odds of each non-reference
        category against ``reference``; missing features are read as 0 copies."""
        model = cls(categories, reference)
        others = [c for c in model.categories if c != model.reference]
        if set(intercepts) != set(others) or set(coefficients) != set(others):
            raise GenofaceError(f"coefficients must be given for exactly the categories {others}")
        k = {len(v) for v in coefficients.values()}
        if len(k) != 1:
            raise GenofaceError("every category needs one coefficient per SNP")
        model.coef_ = np.zeros((len(model.categories), k.pop()))
        model.intercept_ = np.zeros(len(model.categories))
        for c in others:
            i = model.categories.index(c)
            model.coef_[i] = np.asarray(coefficients[c], dtype=np.float64)
            model.intercept_[i] = float(intercepts[c])
        model.fill_ = np.zeros(model.coef_.shape[1])
        return model

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise GenofaceError("the trait model is not fitted")

    def to_arrays(self) -> dict[str, Any]:
        """The array-state protocol of :mod:`genoface.core.state`."""
        self._check_fitted()
        scalars = {"categories": self.categories, "reference": self.reference, "C": self.C}
        return scalars | {"coef": self.coef_, "intercept": self.intercept_, "fill": self.fill_}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, Any]) -> CategoricalTrait:
        model = cls(arrays["categories"], arrays["reference"], arrays["C"])
        model.coef_, model.intercept_, model.fill_ = arrays["coef"], arrays["intercept"], arrays["fill"]
        return model


#: Ridge penalties tried (on standardized features) by :class:`GaussianTrait`.
RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-2, 5, 15))


class GaussianTrait:
    """A quantitative trait as Normal(mean(x), sd^2): ridge regression for the mean, its penalty
    chosen by leave-one-out cross-validation (scikit-learn's RidgeCV) so that hundreds of weak
    SNP features do not overfit a few hundred people, and for the spread the SD of out-of-fold
    residuals (in-sample residuals would make the intervals too narrow for new people). When the
    features themselves were chosen on these people (GWAS-selected SNPs), that SD is optimistic
    too: pass ``sd`` measured with the selection inside the folds (TraitPredictor does).

    Attributes: ``coef_`` (k,), ``intercept_``, ``alpha_``, ``sd_``, ``fill_`` (k,),
    ``x_mean_``, ``x_scale_`` (k,).
    """

    def __init__(self, alphas: tuple[float, ...] = RIDGE_ALPHAS, n_folds: int = 5, random_state: int = 0) -> None:
        self.alphas = alphas
        self.n_folds = n_folds
        self.random_state = random_state

    def fit(self, x: np.ndarray, y: np.ndarray, *, sd: float | None = None) -> GaussianTrait:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        ok = ~np.isnan(y)
        if ok.sum() < max(10, 2 * int(self.n_folds)):
            raise GenofaceError(f"a quantitative trait model needs at least 10 people with the trait, got {ok.sum()}")
        x, y = x[ok], y[ok]
        self.fill_ = _column_means(x)
        x = _impute(x, self.fill_)
        # Standardized features, so one ridge penalty suits sex, ancestry and SNP dosages alike.
        self.x_mean_ = x.mean(axis=0)
        self.x_scale_ = np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
        z = (x - self.x_mean_) / self.x_scale_
        fit = RidgeCV(alphas=list(self.alphas)).fit(z, y)
        self.coef_, self.intercept_, self.alpha_ = fit.coef_, float(fit.intercept_), float(fit.alpha_)
        if sd is None:
            residuals = np.empty_like(y)
            folds = KFold(int(self.n_folds), shuffle=True, random_state=int(self.random_state))
            for train, test in folds.split(z):
                fold = Ridge(alpha=self.alpha_).fit(z[train], y[train])
                residuals[test] = y[test] - fold.predict(z[test])
            sd = float(np.sqrt(np.mean(residuals**2)))
        self.sd_ = float(sd)
        return self

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, sd), each (n,)."""
        if not hasattr(self, "coef_"):
            raise GenofaceError("the trait model is not fitted")
        z = (_impute(x, self.fill_) - self.x_mean_) / self.x_scale_
        mean = z @ self.coef_ + self.intercept_
        return mean, np.full(len(mean), self.sd_)

    def to_arrays(self) -> dict[str, Any]:
        """The array-state protocol of :mod:`genoface.core.state`."""
        scalars = {"alphas": list(self.alphas), "n_folds": self.n_folds, "random_state": self.random_state}
        scalars |= {"intercept": self.intercept_, "alpha": self.alpha_, "sd": self.sd_}
        return scalars | {"coef": self.coef_, "fill": self.fill_, "x_mean": self.x_mean_, "x_scale": self.x_scale_}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, Any]) -> GaussianTrait:
        model = cls(tuple(arrays["alphas"]), arrays["n_folds"], arrays["random_state"])
        model.intercept_, model.alpha_, model.sd_ = (
            float(arrays["intercept"]),
            float(arrays["alpha"]),
            float(arrays["sd"]),
        )
        model.coef_, model.fill_ = arrays["coef"], arrays["fill"]
        model.x_mean_, model.x_scale_ = arrays["x_mean"], arrays["x_scale"]
        return model
