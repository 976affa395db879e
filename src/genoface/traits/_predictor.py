"""All the trait predictions of one genome, fitted once on a cohort that has the labels:
genetic sex, continental ancestry, eye / hair / skin colour and height, each twice:

- ``dna``: from the genome's trait SNPs (IrisPlex for eye colour, the HIrisPlex-S panel for
  hair and skin, GWAS-selected SNPs plus sex and ancestry for height);
- ``demographic``: from genetic sex and ancestry only (Erlich's baseline): what a genome says
  about a trait through demographics alone.

Saved as a directory of ``traits.json`` + ``traits.npz`` (no pickle: loading runs no code).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from genoface import __version__
from genoface.core.errors import GenofaceError
from genoface.core.files import atomic_directory, read_arrays, read_json_object, write_json
from genoface.core.schema import is_x, is_y
from genoface.core.state import split_scalars
from genoface.genetics import AncestryPCA, SexPredictor, fit_sex_caller, gwas, on_panel, select_snps
from genoface.io.genotypes import GenotypeData
from genoface.traits._ancestry import AncestryModel
from genoface.traits._classifiers import CategoricalTrait, GaussianTrait
from genoface.traits._panels import (
    EYE_COLOURS,
    HAIR_COLOURS,
    HIRISPLEX_S_SNPS,
    IRISPLEX_SNPS,
    SKIN_COLOURS,
    panel_counts,
)

log = logging.getLogger(__name__)

#: Categorical traits (covariates.tsv column -> categories, SNP panel).
CATEGORICAL_TRAITS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "eye_colour": (EYE_COLOURS, IRISPLEX_SNPS),
    "hair_colour": (HAIR_COLOURS, HIRISPLEX_S_SNPS),
    "skin_colour": (SKIN_COLOURS, HIRISPLEX_S_SNPS),
}
#: Quantitative traits (covariates.tsv column -> unit).
QUANTITATIVE_TRAITS = {"height_cm": "cm"}
BASES = ("dna", "demographic")
TRAITS_FILE, ARRAYS_FILE = "traits.json", "traits.npz"
#: Where ``genoface train`` keeps the trait predictor inside a model directory.
TRAITS_SUBDIR = "traits"
TRAITS_FORMAT_VERSION = 1


@dataclass
class TraitPredictions:
    """Predicted traits of ``n`` people on one basis ("dna" or "demographic").

    p_male : (n,) P(male), or None without a sex model. ancestry : one row per person (population, p_<POP>, q_<POP>, ...)
    or None without a labelled reference. categorical : trait -> (n, C) probabilities over
    ``categories[trait]``. quantitative : trait -> (mean, sd), each (n,). n_panel_snps : trait ->
    (n,) panel SNPs typed per person.
    """

    sample_ids: np.ndarray
    basis: str
    p_male: np.ndarray | None
    ancestry: pd.DataFrame | None
    categories: dict[str, list[str]] = field(default_factory=dict)
    categorical: dict[str, np.ndarray] = field(default_factory=dict)
    quantitative: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    n_panel_snps: dict[str, np.ndarray] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """One row per person: the most likely value of every trait with its probability (or a
        95% interval), and every category's probability."""
        out = pd.DataFrame(index=pd.Index(self.sample_ids, name="sample_id"))
        if self.p_male is not None:
            out["sex"] = np.where(self.p_male >= 0.5, "M", "F")
            out["p_sex"] = np.maximum(self.p_male, 1 - self.p_male)
        if self.ancestry is not None:
            out = out.join(self.ancestry.set_index(out.index))
        for trait, p in self.categorical.items():
            cats = np.asarray(self.categories[trait])
            out[trait] = cats[p.argmax(axis=1)]
            out[f"p_{trait}"] = p.max(axis=1)
            for j, c in enumerate(cats):
                out[f"p_{trait}_{c.replace(' ', '_')}"] = p[:, j]
        for trait, (mean, sd) in self.quantitative.items():
            out[trait] = mean
            out[f"{trait}_sd"] = sd
            out[f"{trait}_lo95"], out[f"{trait}_hi95"] = mean - 1.96 * sd, mean + 1.96 * sd
        return out

    def records(self) -> list[dict[str, Any]]:
        """One JSON-able dict per person (``genoface traits --json``)."""
        rows = []
        for i, sample in enumerate(self.sample_ids):
            row: dict[str, Any] = {"sample_id": str(sample), "basis": self.basis}
            if self.p_male is not None:
                row["sex"] = {"M": float(self.p_male[i]), "F": float(1 - self.p_male[i])}
            if self.ancestry is not None:
                a = self.ancestry.iloc[i]
                row["ancestry"] = {
                    "population": str(a["population"]),
                    "probabilities": {k[2:]: float(v) for k, v in a.items() if k.startswith("p_")},
                    "proportions": {k[2:]: float(v) for k, v in a.items() if k.startswith("q_")},
                }
            for trait, p in self.categorical.items():
                row[trait] = {
                    "probabilities": dict(zip(self.categories[trait], map(float, p[i]), strict=True)),
                    "panel_snps_typed": int(self.n_panel_snps[trait][i]) if trait in self.n_panel_snps else None,
                }
            for trait, (mean, sd) in self.quantitative.items():
                m, s = float(mean[i]), float(sd[i])
                row[trait] = {"mean": m, "sd": s, "interval95": [m - 1.96 * s, m + 1.96 * s]}
            rows.append(row)
        return rows


class TraitPredictor:
    """Fit every trait the cohort has labels for; predict them from genomes.

    Parameters
    ----------
    n_pcs : ancestry components (used for ancestry, and as features when the cohort has no
        population labels).
    n_height_snps, clump_bp : at most this many height SNPs, chosen by GWAS in the training
        people and clumped; how many of them to use (0, 10, 50 or all) is cross-validated.
    C : inverse L2 strength of the categorical fits.
    random_state : seed of the PCA and of the cross-validated height spread.

    Attributes (after :meth:`fit`): ``sex_``, ``ancestry_`` (or None), ``pca_`` (when no
    population labels), ``categorical_`` {trait: {basis: CategoricalTrait}},
    ``quantitative_`` {trait: {basis: GaussianTrait}}, ``panels_`` {trait: (ids, counted, other)},
    ``height_snps_`` (ids, counted, other), ``marginals_`` (population frequencies of the
    categories and the trait mean/SD: the denominators of likelihood ratios), ``panel_`` every
    variant the predictor reads (id, chrom, pos, ref, alt).
    """

    def __init__(
        self, n_pcs: int = 4, n_height_snps: int = 200, clump_bp: int = 20_000, C: float = 1.0, random_state: int = 0
    ) -> None:
        self.n_pcs = n_pcs
        self.n_height_snps = n_height_snps
        self.clump_bp = clump_bp
        self.C = C
        self.random_state = random_state

    # ---- fitting -----------------------------------------------------------------------------------

    def fit(self, cohort, progress: Callable[[str, int, int], None] | None = None) -> TraitPredictor:
        """Fit on every person of ``cohort`` (a Cohort, or any reference panel with sample_ids,
        genotypes, variants and covariates: faces are not needed); ``progress(stage, done,
        total)`` is told each step."""
        g, v = cohort.genotypes, cohort.variants
        cov = cohort.covariates.reindex(cohort.sample_ids)
        steps = ["sex", "ancestry", *(t for t in [*CATEGORICAL_TRAITS, *QUANTITATIVE_TRAITS] if t in cov)]

        def say(step: str) -> None:
            if progress is not None:
                progress("traits", steps.index(step), len(steps))

        sex = cov["sex"].map({"M": 1.0, "F": 0.0}).to_numpy(dtype=float) if "sex" in cov else None
        say("sex")
        self.sex_ = fit_sex_caller(g, v, sex)  # None (with a warning) for a panel without chromosome X
        say("ancestry")
        self.ancestry_, self.pca_ = None, None
        pops = cov["population"].astype("string") if "population" in cov else None
        if pops is not None and pops.notna().all() and pops.nunique() >= 2:
            try:
                self.ancestry_ = AncestryModel(n_components=int(self.n_pcs), random_state=int(self.random_state))
                self.ancestry_.fit(g, v, pops.to_numpy(dtype=str))
            except GenofaceError as exc:  # e.g. a population of too few people: PCs only
                log.warning("no ancestry classifier (%s); ancestry enters as PCs", exc)
                self.ancestry_ = None
        if self.ancestry_ is None:
            self.pca_ = AncestryPCA(n_components=int(self.n_pcs), random_state=int(self.random_state)).fit(g, v)
        p_male, ancestry = self._sex_and_ancestry(g, v)
        if sex is not None:  # the recorded sex where there is one
            p_male = np.where(np.isnan(sex), 0.5 if p_male is None else p_male, sex)
        demo = self._demographics(g, v, p_male, ancestry)
        self.categorical_, self.quantitative_, self.panels_ = {}, {}, {}
        male_share = 0.5 if sex is None else float(np.nanmean(sex))
        self.marginals_: dict[str, Any] = {"sex": [1 - male_share, male_share]}
        if self.ancestry_ is not None:
            self.marginals_["population"] = pops.value_counts(normalize=True).astype(float).to_dict()
        self.height_snps_ = (np.array([], dtype=str),) * 3
        self.skipped_: dict[str, str] = {}
        for trait in [*CATEGORICAL_TRAITS, *QUANTITATIVE_TRAITS]:
            if trait not in cov or cov[trait].isna().all():
                continue
            say(trait)
            try:  # a trait the labels cannot support is left out, not the whole predictor
                if trait in CATEGORICAL_TRAITS:
                    self._fit_categorical(trait, g, v, cov[trait], demo)
                else:
                    self._fit_quantitative(trait, g, v, cov[trait].to_numpy(dtype=float), demo)
            except GenofaceError as exc:
                log.warning("%s left out of the trait predictor: %s", trait, exc)
                self.skipped_[trait] = str(exc)
        self.panel_ = self._panel(v)
        if progress is not None:
            progress("traits", len(steps), len(steps))
        self.provenance_ = {
            "cohort": getattr(cohort, "meta", {}).get("name", ""),
            "cohort_hash": cohort.hash() if hasattr(cohort, "hash") else "",
            "n": len(cohort.sample_ids),
        }
        return self

    def _fit_categorical(self, trait: str, g, v: pd.DataFrame, labels: pd.Series, demo: np.ndarray) -> None:
        categories, panel = CATEGORICAL_TRAITS[trait]
        labels = labels.astype("string")
        ok = labels.notna().to_numpy()
        labels = labels.to_numpy(dtype=str, na_value="")
        ids = v["id"].astype(str)
        present = [s for s in panel if s in set(ids)]
        models = {"demographic": CategoricalTrait(categories, C=self.C).fit(demo[ok], labels[ok])}
        if present:
            rows = pd.Index(ids).get_indexer(present)
            spec = (np.array(present), v["alt"].to_numpy()[rows].astype(str), v["ref"].to_numpy()[rows].astype(str))
            x = panel_counts(g, v, *spec)
            reference = "brown" if trait == "eye_colour" else None  # IrisPlex's reference category
            models["dna"] = CategoricalTrait(categories, reference=reference, C=self.C).fit(x[ok], labels[ok])
            self.panels_[trait] = spec
        else:
            log.warning("no %s panel SNP in the cohort: its DNA prediction is the demographic one", trait)
        self.categorical_[trait] = models
        freq = pd.Series(labels[ok]).value_counts(normalize=True)
        self.marginals_[trait] = [float(freq.get(c, 0.0)) for c in categories]

    def _fit_quantitative(self, trait: str, g, v: pd.DataFrame, y: np.ndarray, demo: np.ndarray) -> None:
        """Height on the demographic features plus the k SNPs a GWAS ranks best. k (0 to
        ``n_height_snps``) and the interval's SD come from 5-fold residuals in which each fold
        runs its own GWAS without its held-out people: selected on everyone, weak SNPs would look
        useful and the interval narrower than it is for new people."""
        people = np.flatnonzero(~np.isnan(y))
        if len(people) < 20:
            raise GenofaceError(f"{trait} needs at least 20 people with a value, got {len(people)}")
        sizes = sorted({0, *(k for k in (10, 50) if k < int(self.n_height_snps)), int(self.n_height_snps)})
        residuals = np.empty((len(sizes), len(people)))
        folds = KFold(5, shuffle=True, random_state=int(self.random_state))
        for train, test in folds.split(people):
            spec = self._select_height_snps(g, v, y, demo, people[train])
            counts = panel_counts(g, v, *spec)  # best SNP first
            for i, k in enumerate(sizes):
                x = np.column_stack([demo, counts[:, :k]])
                fold = GaussianTrait(random_state=int(self.random_state)).fit(
                    x[people[train]], y[people[train]], sd=0.0
                )
                residuals[i, test] = y[people[test]] - fold.predict(x[people[test]])[0]
        mse = np.mean(residuals**2, axis=1)
        best = int(np.argmin(mse))
        spec = tuple(a[: sizes[best]] for a in self._select_height_snps(g, v, y, demo, people))
        x = np.column_stack([demo, panel_counts(g, v, *spec)])
        log.info("%s: %d SNPs (cross-validated RMSE %s for %s SNPs)", trait, sizes[best], np.sqrt(mse).round(2), sizes)
        self.quantitative_[trait] = {
            "dna": GaussianTrait(random_state=int(self.random_state)).fit(x, y, sd=float(np.sqrt(mse[best]))),
            "demographic": GaussianTrait(random_state=int(self.random_state)).fit(demo, y),
        }
        self.height_snps_ = spec
        self.marginals_[trait] = [float(np.nanmean(y)), float(np.nanstd(y))]

    def _demographics(self, g, v: pd.DataFrame, p_male: np.ndarray | None, ancestry: pd.DataFrame | None) -> np.ndarray:
        """(n, d) features of the demographic basis: P(male) (0.5 without a sex model) and the
        ancestry proportions (or PCs without a labelled reference)."""
        sex = np.full(g.shape[0], 0.5) if p_male is None else p_male
        if ancestry is not None:
            anc = ancestry[[c for c in ancestry.columns if c.startswith("q_")]].to_numpy()[:, 1:]  # rows sum to 1
        else:
            anc = self.pca_.transform(g, v["id"].to_numpy())
        return np.column_stack([sex, anc])

    def _sex_and_ancestry(self, g, v: pd.DataFrame) -> tuple[np.ndarray | None, pd.DataFrame | None]:
        """P(male) (None without a sex model) and the ancestry table (None without a reference)."""
        p_male = None if self.sex_ is None else self.sex_.predict_proba(g, v)
        ancestry = self.ancestry_.predict(g, v["id"].to_numpy()) if self.ancestry_ is not None else None
        return p_male, ancestry

    def _select_height_snps(self, g, v: pd.DataFrame, y: np.ndarray, demo: np.ndarray, rows: np.ndarray):
        """Autosomal SNPs most associated with the trait given sex and ancestry, by a GWAS of
        the people at ``rows`` only, clumped by distance; as (ids, counted = ALT, other = REF)."""
        auto = np.flatnonzero(~(is_x(v["chrom"]) | is_y(v["chrom"])))
        result = gwas(np.asarray(g[rows])[:, auto], y[rows], demo[rows])
        table = v.iloc[auto].reset_index(drop=True)
        chosen = auto[select_snps(result, n_snps=int(self.n_height_snps), variants=table, window_bp=int(self.clump_bp))]
        ids, alt, ref = (v[c].to_numpy()[chosen].astype(str) for c in ("id", "alt", "ref"))
        return ids, alt, ref

    def _panel(self, v: pd.DataFrame) -> pd.DataFrame:
        """Every variant a prediction reads: X / Y (sex), the ancestry SNPs, the trait panels."""
        wanted = set(v["id"][is_x(v["chrom"]) | is_y(v["chrom"])].astype(str))
        reference = self.ancestry_.pca_ if self.ancestry_ is not None else self.pca_
        wanted |= set(map(str, reference.snps_))
        for ids, _, _ in [*self.panels_.values(), self.height_snps_]:
            wanted |= set(map(str, ids))
        keep = v["id"].astype(str).isin(wanted).to_numpy()
        return v.loc[keep, ["chrom", "pos", "id", "ref", "alt"]].reset_index(drop=True)

    # ---- prediction --------------------------------------------------------------------------------

    def predict(self, data, basis: str = "dna") -> TraitPredictions:
        """Traits of every person in ``data`` (a GenotypeData or a Cohort) on ``basis``."""
        if basis not in BASES:
            raise GenofaceError(f"unknown basis {basis!r}; use one of {', '.join(BASES)}")
        return self.predict_bases(data)[basis]

    def predict_bases(self, data) -> dict[str, TraitPredictions]:
        """Traits on every basis ("dna", "demographic"), sex and ancestry computed once."""
        self._check_fitted()
        # The allele matcher: a file with REF/ALT exchanged or other chromosome names reads as
        # the training data did (VCF/PLINK are forward-strand).
        data, report = on_panel(data, self.panel_, strand="forward")
        if report.n_matched < report.n_panel or report.n_flipped or report.n_strand_flipped:
            log.info("trait predictor: %s", report.summary())
        g, v = data.genotypes, data.variants
        p_male, ancestry = self._sex_and_ancestry(g, v)
        demo = self._demographics(g, v, p_male, ancestry)
        ids = np.asarray(data.sample_ids, dtype=str)
        out = {b: TraitPredictions(ids, b, p_male, ancestry) for b in BASES}
        for trait, models in self.categorical_.items():
            for pred in out.values():
                pred.categories[trait] = list(models["demographic"].categories)
            out["demographic"].categorical[trait] = models["demographic"].predict_proba(demo)
            if "dna" in models:
                x = panel_counts(g, v, *self.panels_[trait])
                out["dna"].categorical[trait] = models["dna"].predict_proba(x)
                out["dna"].n_panel_snps[trait] = (~np.isnan(x)).sum(axis=1)
            else:
                out["dna"].categorical[trait] = out["demographic"].categorical[trait]
        for trait, models in self.quantitative_.items():
            out["demographic"].quantitative[trait] = models["demographic"].predict(demo)
            x = np.column_stack([demo, panel_counts(g, v, *self.height_snps_)])
            out["dna"].quantitative[trait] = models["dna"].predict(x)
        return out

    @property
    def traits(self) -> list[str]:
        return [
            *(["sex"] if self.sex_ is not None else []),
            *(["ancestry"] if self.ancestry_ is not None else []),
            *self.categorical_,
            *self.quantitative_,
        ]

    def _check_fitted(self) -> None:
        if not hasattr(self, "sex_"):
            raise GenofaceError("the trait predictor is not fitted: call fit(cohort) or load a saved one")

    # ---- storage -----------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write ``traits.json`` + ``traits.npz`` atomically into the directory ``path``."""
        self._check_fitted()
        with atomic_directory(path, overwrite=overwrite) as tmp:
            self.write_into(tmp)
        return Path(path)

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        arrays: dict[str, np.ndarray] = {}
        parts: dict[str, Any] = {}

        def put(prefix: str, state: dict[str, Any]) -> None:
            scalars, arr = split_scalars(state)
            parts[prefix] = scalars
            arrays.update({f"{prefix}/{k}": np.asarray(a) for k, a in arr.items()})

        if self.sex_ is not None:
            put("sex", self.sex_.to_arrays())
        if self.ancestry_ is not None:
            put("ancestry", self.ancestry_.to_arrays())
        else:
            put("pca", self.pca_.to_arrays())
        for trait, models in self.categorical_.items():
            for basis, m in models.items():
                put(f"{trait}.{basis}", m.to_arrays())
        for trait, models in self.quantitative_.items():
            for basis, m in models.items():
                put(f"{trait}.{basis}", m.to_arrays())
        for trait, spec in [*self.panels_.items(), ("height", self.height_snps_)]:
            for name, a in zip(("ids", "counted", "other"), spec, strict=True):
                arrays[f"panel.{trait}/{name}"] = np.asarray(a, dtype=str)
        for c in ("chrom", "id", "ref", "alt"):
            arrays[f"variants/{c}"] = self.panel_[c].to_numpy().astype(str)
        arrays["variants/pos"] = self.panel_["pos"].to_numpy(dtype=np.int64)
        config = {
            "format_version": TRAITS_FORMAT_VERSION,
            "params": {k: getattr(self, k) for k in ("n_pcs", "n_height_snps", "clump_bp", "C", "random_state")},
            "categorical": {t: list(m) for t, m in self.categorical_.items()},
            "quantitative": {t: list(m) for t, m in self.quantitative_.items()},
            "panels": list(self.panels_),
            "marginals": self.marginals_,
            "parts": parts,
            "provenance": {"genoface_version": __version__, **self.provenance_},
        }
        return config, arrays

    def write_into(self, directory: Path) -> None:
        """Write the two files into an existing ``directory`` (inside another atomic write)."""
        config, arrays = self._state()
        write_json(Path(directory) / TRAITS_FILE, config)
        np.savez_compressed(Path(directory) / ARRAYS_FILE, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> TraitPredictor:
        path = Path(path)
        if not (path / TRAITS_FILE).is_file():
            raise GenofaceError(
                f"{path}: no {TRAITS_FILE}; train one with `genoface train` on a cohort with trait labels"
            )
        fix = "the trait predictor is damaged, retrain the model"
        config = read_json_object(path / TRAITS_FILE, what="trait predictor", fix=fix)
        arrays = read_arrays(path / ARRAYS_FILE, what="trait predictor arrays", fix=fix)
        if config.get("format_version") != TRAITS_FORMAT_VERSION:
            raise GenofaceError(
                f"{path / TRAITS_FILE}: format version {config.get('format_version')}, expected {TRAITS_FORMAT_VERSION}"
            )
        try:
            self = cls._from_saved(config, arrays)
            self._predict_probe()
            return self
        except GenofaceError as exc:
            raise GenofaceError(f"{path}: {exc}") from None
        except Exception as exc:  # a key, type or shape the saved files should have and do not
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise GenofaceError(f"{path}: {fix} ({reason})") from None

    def _predict_probe(self) -> None:
        """Predict one probe person (genotype 0 at every panel SNP): damage that reading cannot see
        (an array of the wrong size, a NaN parameter) fails at load, not mid-prediction."""
        probe = GenotypeData(
            np.array(["probe"]), np.zeros((1, len(self.panel_)), dtype=np.int8), self.panel_.astype({"pos": np.int64})
        )
        with np.errstate(all="ignore"):
            for pred in self.predict_bases(probe).values():
                for p in pred.categorical.values():
                    if not np.isfinite(p).all():
                        raise ValueError("a probability of the probe person is not finite")

    @classmethod
    def _from_saved(cls, config: dict, arrays: dict[str, np.ndarray]) -> TraitPredictor:
        """The predictor from its parsed ``traits.json`` and ``traits.npz`` (any damage raises)."""

        def get(prefix: str) -> dict[str, Any]:
            """A part's state: its scalars (traits.json "parts") and its arrays (traits.npz)."""
            arr = {k.split("/", 1)[1]: a for k, a in arrays.items() if k.startswith(prefix + "/")}
            return config["parts"][prefix] | arr

        self = cls(**config["params"])
        self.sex_ = SexPredictor.from_arrays(get("sex")) if "sex" in config["parts"] else None
        self.ancestry_ = AncestryModel.from_arrays(get("ancestry")) if "ancestry" in config["parts"] else None
        self.pca_ = AncestryPCA.from_arrays(get("pca")) if "pca" in config["parts"] else None
        self.categorical_ = {
            t: {b: CategoricalTrait.from_arrays(get(f"{t}.{b}")) for b in bs} for t, bs in config["categorical"].items()
        }
        self.quantitative_ = {
            t: {b: GaussianTrait.from_arrays(get(f"{t}.{b}")) for b in bs} for t, bs in config["quantitative"].items()
        }
        spec = lambda t: tuple(arrays[f"panel.{t}/{n}"] for n in ("ids", "counted", "other"))  # noqa: E731
        self.panels_ = {t: spec(t) for t in config["panels"]}
        self.height_snps_ = spec("height")
        self.marginals_ = config["marginals"]
        self.panel_ = pd.DataFrame({c: arrays[f"variants/{c}"] for c in ("chrom", "pos", "id", "ref", "alt")})
        self.provenance_ = config.get("provenance", {})
        return self


def load_trait_predictor(path: str | os.PathLike) -> TraitPredictor:
    """A trait predictor from its own directory or from a model directory that holds one in
    ``traits/`` (``genoface train`` writes it there)."""
    path = Path(path)
    if (path / TRAITS_SUBDIR / TRAITS_FILE).is_file():
        return TraitPredictor.load(path / TRAITS_SUBDIR)
    if (path / TRAITS_FILE).is_file():
        return TraitPredictor.load(path)
    raise GenofaceError(
        f"{path}: no trait predictor here (no {TRAITS_SUBDIR}/{TRAITS_FILE}); train the model with "
        "`genoface train` on a cohort with trait labels"
    )
