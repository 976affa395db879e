"""The registered model ``mahdi``: Mahdi et al.'s part-based geometric metric learning (IEEE T-BIOM
2022) on the genoface protocol.

Matching a genome to a face, as Sero et al. do, by asking the face what the genome says:

1. **Parts.** The template is split into facial parts by hierarchical spectral clustering of
   the vertices' correlations across the training faces (:mod:`._parts`; ``levels`` levels, 1 +
   2 + 4 + ... parts, the whole face first).
2. **Attributes.** What a genome tells of a face: genetic sex, genomic ancestry (the training
   people's ancestry PCs grouped by k-means into ``n_ancestry_groups``), the genotype of each SNP
   selected as ``sero`` selects them (multivariate GWAS of shape PCs, adjusted for ancestry and
   sex, clumped), and, with covariates, age and BMI in ``n_bins`` quantile bins.
3. **Metric learning.** One SpiralNet++ encoder per part (:mod:`._network`) embeds the part in a
   small metric space, trained with the batch-all triplet loss: faces that share an attribute's
   value lie closer than faces that do not. Each batch uses the demographic attributes and
   ``snp_triplets`` SNPs drawn at random. With ``features="shape"`` the encoders are replaced by
   each part's own shape PCA (the ablation: what the metric learning buys).
4. **Classifiers.** For every attribute and part, an L2 multinomial logistic regression from
   the part's embedding (:mod:`._classifiers`), fitted on the same people as the encoders.
5. **Fusion, calibrated.** The parts' probabilities of an attribute are pooled, as a weighted
   product of likelihood ratios, with weights fitted on held-out training people
   (``calibration_fraction``), which neither the encoders nor the classifiers saw.
6. **Score calibration.** The naive-Bayes sum over attributes (hundreds of SNPs among them)
   counts shared evidence more than once and is over-confident; one factor, fitted to the same
   held-out people's cllr (their genomes against their own and each other's faces), scales it.
   This step is genoface's: it changes no ranking, only how far the likelihood ratios can be
   taken at their word (the audit adds them to the trait evidence).

The score of genome i and face j is, as in ``sero``, the naive-Bayes sum over attributes of
``log P(attribute_i | face_j) - log P(attribute_i)``: a log likelihood ratio. A missing genotype
adds 0; without covariates the age and BMI terms add 0.

Prediction. Mahdi's model generates no face. ``predict`` returns the tempered posterior mean of
the training faces given the genome's score (:mod:`genoface.models._posterior`), as ``sero``
does, so that the protocol's face error exists for every model.

Deviations from the published model, and why: the classifiers are logistic regressions, not
SVMs (the naive-Bayes fusion needs probabilities; a Platt-scaled SVM is a logistic regression
on its margin); one encoder per part learns every attribute (the paper's one network per
attribute and part would be hundreds of networks with SNPs among the attributes); the default is
3 levels (15 parts) rather than the paper's 5 (63), to train on 2 CPU cores in minutes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self

import numpy as np
import pandas as pd
import torch
from scipy.optimize import minimize_scalar
from sklearn.cluster import KMeans

from genoface.core.errors import GenofaceError
from genoface.core.state import with_prefix, without_prefix
from genoface.features import DemographicFeatures, select_face_snps
from genoface.genetics import align_dosages
from genoface.models._base import FaceModel, check_positive_ints, chosen_terms, genotype_arrays
from genoface.models._posterior import choose_temperature, softmax_rows, temper_rows
from genoface.models._registry import register_model
from genoface.models.mahdi._classifiers import CategoricalClassifiers, fit_fusion_weights, fused_log_proba
from genoface.models.mahdi._network import POOL_FACTORS
from genoface.models.mahdi._parts import FacialParts, facial_parts
from genoface.models.mahdi._training import EncoderTraining, part_shape_features
from genoface.shape import ShapePCA

Progress = Callable[[str, int, int], None]
#: The attributes whose log likelihood ratios the score can add up.
TERMS = ("snps", "sex", "ancestry", "age", "bmi")
FEATURES = ("triplet", "shape")
#: Faces (or genomes) per block of the score matrix.
_BLOCK = 512
#: Fewest labelled people per class for an attribute to get classifiers.
_MIN_PER_CLASS = 10


@register_model
class MahdiModel(FaceModel):
    """Part-based metric learning of facial attributes, fused into a likelihood score (see the
    module docstring).

    Parameters
    ----------
    levels : depth of the part hierarchy (0: the whole face only; 3: 15 parts; published 5).
    features : "triplet" (part encoders trained with the triplet loss) or "shape" (each part's
        shape PCA scores: the ablation without metric learning).
    embed_dim : size of each part's embedding (and of its PCA with ``features="shape"``).
    channels, spiral_length : the part encoders' spiral convolutions, one channel count per
        pooling level.
    margin : the triplet loss's margin (squared distances on the unit sphere, 0 to 4).
    snp_triplets : SNP attributes drawn per batch for the triplet loss (besides the demographic ones).
    epochs, max_steps, batch_size, learning_rate : Adam on the triplet loss; ``max_steps`` caps
        the optimizer steps so a large cohort needs fewer passes.
    n_bins : quantile bins of age and of BMI.
    n_ancestry_groups : k-means groups of the ancestry PCs (the genomic-ancestry attribute).
    n_snps, clump_bp, n_pcs, n_shape_components : SNP selection and demographic features, as ``sero``.
    calibration_fraction : share of the training people held out of encoders and classifiers
        to fit the fusion weights.
    terms : the attributes the score adds up, "all" or a comma-separated subset of :data:`TERMS`.
    checkpoint_dir : where to keep a checkpoint of the encoders after every epoch; an
        interrupted fit with the same data and parameters resumes from it.
    device : torch device of the encoders.
    random_state : seed of everything random.
    """

    name = "mahdi"
    score_is_log_lr = True

    def __init__(
        self,
        levels: int = 3,
        features: str = "triplet",
        embed_dim: int = 32,
        channels: tuple[int, ...] = (16, 32),
        spiral_length: int = 9,
        margin: float = 0.2,
        snp_triplets: int = 16,
        epochs: int = 30,
        max_steps: int | None = 2000,
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        n_bins: int = 4,
        n_ancestry_groups: int = 4,
        n_snps: int = 300,
        clump_bp: int = 20_000,
        n_pcs: int = 4,
        n_shape_components: int = 30,
        calibration_fraction: float = 0.2,
        terms: str = "all",
        checkpoint_dir: str | None = None,
        device: str = "cpu",
        random_state: int = 0,
    ) -> None:
        self.levels = levels
        self.features = features
        self.embed_dim = embed_dim
        self.channels = channels
        self.spiral_length = spiral_length
        self.margin = margin
        self.snp_triplets = snp_triplets
        self.epochs = epochs
        self.max_steps = max_steps
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.n_bins = n_bins
        self.n_ancestry_groups = n_ancestry_groups
        self.n_snps = n_snps
        self.clump_bp = clump_bp
        self.n_pcs = n_pcs
        self.n_shape_components = n_shape_components
        self.calibration_fraction = calibration_fraction
        self.terms = terms
        self.checkpoint_dir = checkpoint_dir
        self.device = device
        self.random_state = random_state

    def _terms(self) -> frozenset[str]:
        return chosen_terms(self.terms, TERMS)

    def _check_params(self) -> None:
        check_positive_ints(
            self, ("embed_dim", "n_snps", "n_pcs", "n_shape_components", "batch_size", "epochs", "n_bins")
        )
        check_positive_ints(self, ("spiral_length",))
        channels = self.channels
        if not (
            isinstance(channels, (list, tuple))
            and 1 <= len(channels) <= len(POOL_FACTORS)
            and all(isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in channels)
        ):
            raise GenofaceError(
                f"channels must be 1 or {len(POOL_FACTORS)} positive integers, one per pooling level "
                f"(e.g. --set channels=[16,32]); got {channels!r}"
            )
        if not (isinstance(self.levels, int) and not isinstance(self.levels, bool) and 0 <= self.levels <= 6):
            raise GenofaceError(f"levels must be an integer from 0 to 6, got {self.levels!r}")
        if not (isinstance(self.snp_triplets, int) and self.snp_triplets >= 0):
            raise GenofaceError(f"snp_triplets must be an integer >= 0, got {self.snp_triplets!r}")
        for key in ("margin", "learning_rate"):
            if not (isinstance(getattr(self, key), (int, float)) and getattr(self, key) > 0):
                raise GenofaceError(f"{key} must be a positive number, got {getattr(self, key)!r}")
        if self.features not in FEATURES:
            raise GenofaceError(f"features must be one of {', '.join(FEATURES)}, got {self.features!r}")
        if not 0.05 <= float(self.calibration_fraction) <= 0.5:
            raise GenofaceError(f"calibration_fraction must lie in 0.05..0.5, got {self.calibration_fraction!r}")
        if not (isinstance(self.n_ancestry_groups, int) and self.n_ancestry_groups >= 2):
            raise GenofaceError(f"n_ancestry_groups must be an integer >= 2, got {self.n_ancestry_groups!r}")
        self._terms()

    # ---- fitting -------------------------------------------------------------------------------

    def fit(self, cohort, *, progress: Progress | None = None) -> Self:
        progress = progress or (lambda stage, done, total: None)
        self._check_params()
        n = cohort.n_samples
        if n < 50:
            raise GenofaceError(f"the mahdi model needs at least 50 training people, got {n}")
        self._remember_cohort(cohort)
        faces = np.asarray(cohort.faces, dtype=np.float64)
        self.shape_pca_ = ShapePCA(n_components=min(int(self.n_shape_components), n - 2)).fit(faces)
        z = self.shape_pca_.transform(faces) / np.sqrt(self.shape_pca_.explained_variance_)
        self.demographics_ = DemographicFeatures(self.n_pcs, self.random_state)
        people = self.demographics_.fit(cohort, self.name, covariates_needed=False)
        cols = select_face_snps(cohort, z, people.genome_block(), self.n_snps, self.clump_bp)
        self.snps_ = cohort.variants["id"].to_numpy()[cols].astype(str)
        labels = self._training_labels(people, align_dosages(cohort.genotypes, cohort.variants["id"], self.snps_))
        progress("mahdi: facial parts", 0, 1)
        self.parts_ = facial_parts(
            self.shape_pca_.components_, self.shape_pca_.explained_variance_, cohort.template_triangles,
            int(self.levels), random_state=int(self.random_state),
        )  # fmt: skip
        progress("mahdi: facial parts", 1, 1)
        fit_rows, calibration_rows = self._split(n)
        train_features = self._fit_features(cohort, faces, labels, fit_rows, progress)
        self._fit_classifiers(train_features, labels, fit_rows, calibration_rows, progress)
        self.score_scale_ = self._fit_score_scale(cohort.subset(calibration_rows), train_features[calibration_rows])
        self.train_features_ = train_features.astype(np.float32)
        self.train_z_ = z
        self.n_vertices_ = cohort.n_vertices
        self.predict_temperature_ = self._fit_prediction_temperature(cohort)
        self.fitted_ = True
        return self

    def _split(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Training people for the encoders and classifiers, and those held out to calibrate the fusion."""
        order = np.random.default_rng(int(self.random_state)).permutation(n)
        n_cal = max(int(round(float(self.calibration_fraction) * n)), 10)
        return np.sort(order[n_cal:]), np.sort(order[:n_cal])

    def _training_labels(self, people, dosages: np.ndarray) -> dict[str, np.ndarray]:
        """Each attribute's labels (n, m) in 0..C-1, -1 unknown: the attributes with enough people."""
        labels = {"snps": np.where(np.isnan(dosages), -1, dosages).astype(np.int64)}
        male = people.sex_calls()
        labels["sex"] = np.where(np.isnan(male), -1, male).astype(np.int64)[:, None]
        self.ancestry_standard_ = np.stack([people.pcs.mean(axis=0), np.maximum(people.pcs.std(axis=0), 1e-12)])
        mean, sd = self.ancestry_standard_
        kmeans = KMeans(n_clusters=int(self.n_ancestry_groups), n_init=10, random_state=int(self.random_state))
        labels["ancestry"] = kmeans.fit_predict((people.pcs - mean) / sd)[:, None].astype(np.int64)
        self.ancestry_centers_ = kmeans.cluster_centers_
        self.bin_edges_ = {}
        for key, values in (("age", people.age), ("bmi", people.bmi)):
            if values is not None and np.isfinite(values).sum() >= _MIN_PER_CLASS * int(self.n_bins):
                inner = np.unique(np.nanquantile(values, np.linspace(0, 1, int(self.n_bins) + 1)[1:-1]))
                self.bin_edges_[key] = inner
                labels[key] = _bin(values, inner)[:, None]
        return {k: v for k, v in labels.items() if k == "snps" or _has_classes(v)}

    def _fit_features(self, cohort, faces, labels, rows: np.ndarray, progress: Progress) -> np.ndarray:
        """The training people's standardized part features (n, P, D): the encoders trained (or
        the part PCAs fitted) on ``rows``."""
        if self.features == "triplet":
            training = EncoderTraining(self, cohort.template_vertices, cohort.template_triangles, self.parts_)
            self.net_, self.history_ = training.fit(cohort.hash(), faces, labels, rows, progress)
            self.part_pcas_ = None
        else:
            self.net_, self.history_ = None, {}
            self.part_pcas_ = [
                ShapePCA(n_components=min(int(self.embed_dim), len(rows) - 2)).fit(faces[rows][:, m])
                for m in self.parts_.members
            ]
        raw = self._raw_features(faces)
        self.feature_mean_ = raw[rows].mean(axis=0)
        self.feature_sd_ = np.maximum(raw[rows].std(axis=0), 1e-9)
        return (raw - self.feature_mean_) / self.feature_sd_

    def _raw_features(self, faces: np.ndarray) -> np.ndarray:
        """(n, P, D) embeddings (or whitened part PCA scores) of faces (n, V, 3)."""
        if self.net_ is None:
            return part_shape_features(self.part_pcas_, self.parts_, faces)
        out = []
        with torch.no_grad():
            self.net_.eval()
            for start in range(0, len(faces), _BLOCK):
                block = torch.as_tensor(np.asarray(faces[start : start + _BLOCK]), dtype=torch.float32)
                out.append(self.net_(block.to(self.device)).transpose(0, 1).cpu().numpy().astype(np.float64))
        return np.concatenate(out) if out else np.zeros((0, self.parts_.n_parts, int(self.embed_dim)))

    def _fit_classifiers(self, features, labels, fit_rows, calibration_rows, progress: Progress) -> None:
        """Per attribute: a classifier per part on ``fit_rows``, fusion weights on ``calibration_rows``."""
        self.classifiers_, self.fusion_ = {}, {}
        n_parts = self.parts_.n_parts
        for step, (key, y) in enumerate(labels.items()):
            log_prior = _log_prior(y[fit_rows], self._n_classes(key), hardy_weinberg=key == "snps")
            self.classifiers_[key] = [
                CategoricalClassifiers(log_prior).fit(features[fit_rows, p], y[fit_rows]) for p in range(n_parts)
            ]
            held_out = self._part_log_proba(key, features[calibration_rows])
            self.fusion_[key] = fit_fusion_weights(held_out, y[calibration_rows], log_prior)
            progress("mahdi: classifiers", step + 1, len(labels))

    def _fit_score_scale(self, people, features: np.ndarray) -> float:
        """The factor of the summed score that minimizes the held-out people's cllr (genomes against
        their own and each other's faces, without and with covariates). The naive-Bayes sum over
        hundreds of SNPs counts shared evidence more than once; one factor calibrates it."""
        self.score_scale_ = 1.0
        ratios = self._face_ratios(features)
        scores = [self._score(self._genome_evidence(people, cov), ratios) for cov in (None, people.covariates)]
        loss = lambda scale: sum(_cllr(scale * s) for s in scores)  # noqa: E731
        return float(minimize_scalar(loss, bounds=(0.0, 4.0), method="bounded", options={"xatol": 1e-4}).x)

    def _fit_prediction_temperature(self, cohort) -> np.ndarray:
        """Temperature of the posterior over training faces, for ``dna`` and for ``dna+cov``."""
        rows = temper_rows(cohort.n_samples, self.random_state)
        sub = cohort.subset(rows)
        ratios = self._face_ratios(self.train_features_)
        values = self.train_z_ * np.sqrt(self.shape_pca_.explained_variance_)
        chosen = [
            choose_temperature(self._score(self._genome_evidence(sub, covariates), ratios), rows, values)
            for covariates in (None, sub.covariates)
        ]
        return np.asarray(chosen)

    # ---- matching ----------------------------------------------------------------------------------

    def _n_classes(self, key: str) -> int:
        if key in self.bin_edges_:
            return len(self.bin_edges_[key]) + 1
        return {"snps": 3, "sex": 2, "ancestry": int(self.n_ancestry_groups)}[key]

    def _part_log_proba(self, key: str, features: np.ndarray) -> np.ndarray:
        """(P, n, m, C) each part's log P(class | face) of attribute ``key``."""
        return np.stack([clf.log_proba(features[:, p]) for p, clf in enumerate(self.classifiers_[key])])

    def _face_ratios(self, features: np.ndarray, part: int | None = None) -> dict[str, np.ndarray]:
        """Per attribute, (n_faces, m * C) fused log P(class | face) - log P(class); with ``part``,
        that part's alone (unfused)."""
        out = {}
        for key in self._terms() & set(self.classifiers_):
            log_prior = self.classifiers_[key][0].log_prior
            if part is None:
                log_p = fused_log_proba(self._part_log_proba(key, features), log_prior, self.fusion_[key])
            else:
                log_p = self.classifiers_[key][part].log_proba(features[:, part])
            out[key] = (log_p - log_prior).reshape(len(features), -1)
        return out

    def _genome_evidence(self, genotypes, covariates) -> dict[str, np.ndarray]:
        """Per attribute, (n_genomes, m * C): each genome's class as one-hot rows (zeros where
        unknown); for sex, the probabilities of female and male."""
        genotypes = self.on_panel(genotypes)
        _, g_all, variant_ids = genotype_arrays(genotypes)
        g = align_dosages(g_all, variant_ids, self.snps_)
        people = self.demographics_.transform(genotypes, covariates)
        mean, sd = self.ancestry_standard_
        distance = (((people.pcs - mean) / sd)[:, None, :] - self.ancestry_centers_[None]) ** 2
        labels = {
            "snps": np.where(np.isnan(g), -1, g).astype(np.int64),
            "ancestry": distance.sum(axis=2).argmin(axis=1)[:, None],
        }
        for key, values in (("age", people.age), ("bmi", people.bmi)):
            if key in self.bin_edges_:
                labels[key] = _bin(values, self.bin_edges_[key])[:, None] if values is not None else None
        out = {key: _one_hot(y, self.classifiers_[key][0].log_prior.shape[1]) for key, y in labels.items()
               if key in self.classifiers_ and y is not None}  # fmt: skip
        out["sex"] = np.column_stack([1.0 - people.male, people.male])
        return out

    def _score(self, evidence: dict[str, np.ndarray], ratios: dict[str, np.ndarray]) -> np.ndarray:
        """(n_genomes, n_faces): the sum over attributes of the genome's log likelihood ratio,
        times the calibration factor."""
        n_genomes = len(evidence["sex"])
        n_faces = len(next(iter(ratios.values()))) if ratios else 0
        out = np.zeros((n_genomes, n_faces))
        for key, ratio in ratios.items():
            if key == "sex":  # P(male) between 0 and 1: the ratio is a mixture over the two sexes
                with np.errstate(divide="ignore"):
                    log_q = np.log(evidence["sex"])
                out += np.logaddexp(log_q[:, None, 0] + ratio[None, :, 0], log_q[:, None, 1] + ratio[None, :, 1])
            elif key in evidence:
                out += evidence[key] @ ratio.T
        return out * self.score_scale_

    def score_matrix(self, genotypes, faces: np.ndarray, covariates: pd.DataFrame | None = None) -> np.ndarray:
        """Sum over attributes of log P(genome's attribute | face) - log P(attribute), computed
        face-block by face-block."""
        self.check_faces(faces)
        evidence = self._genome_evidence(genotypes, covariates)
        out = np.empty((len(evidence["sex"]), faces.shape[0]))
        for start in range(0, faces.shape[0], _BLOCK):
            block = self._standard_features(np.asarray(faces[start : start + _BLOCK], dtype=np.float64))
            out[:, start : start + _BLOCK] = self._score(evidence, self._face_ratios(block))
        return out

    def part_evidence(self, genotypes, faces: np.ndarray, covariates: pd.DataFrame | None = None) -> np.ndarray:
        """(P, n_genomes, n_faces): the score each part gives alone (its own classifiers, not
        fused), over the attributes of ``terms``. Which parts carry the evidence of an attribute:
        restrict ``terms`` (e.g. ``model.terms = "snps"``)."""
        self.check_faces(faces)
        evidence = self._genome_evidence(genotypes, covariates)
        features = self._standard_features(np.asarray(faces, dtype=np.float64))
        return np.stack(
            [self._score(evidence, self._face_ratios(features, part=p)) for p in range(self.parts_.n_parts)]
        )

    def _standard_features(self, faces: np.ndarray) -> np.ndarray:
        return (self._raw_features(faces) - self.feature_mean_) / self.feature_sd_

    def predict(self, genotypes, covariates: pd.DataFrame | None = None) -> np.ndarray:
        """Tempered posterior mean face over the training faces (see the module docstring)."""
        self._check_fitted()
        evidence = self._genome_evidence(genotypes, covariates)
        n = len(evidence["sex"])
        binned = [evidence[k].sum(axis=1) > 0 for k in self.bin_edges_ if k in evidence]  # age, BMI given
        given = np.column_stack(binned).all(axis=1) if binned else np.zeros(n, bool)
        tau = np.where(given, self.predict_temperature_[1], self.predict_temperature_[0])
        ratios = self._face_ratios(self.train_features_)
        scores = np.empty((n, self.train_z_.shape[1]))
        for start in range(0, n, _BLOCK):
            block = {k: v[start : start + _BLOCK] for k, v in evidence.items()}
            logw = tau[start : start + _BLOCK, None] * self._score(block, ratios)
            scores[start : start + _BLOCK] = softmax_rows(logw) @ self.train_z_
        scores *= np.sqrt(self.shape_pca_.explained_variance_)
        return self.shape_pca_.inverse_transform(scores).reshape(n, self.n_vertices_, 3)

    @property
    def part_names(self) -> list[str]:
        """Names of the facial parts (``face``, ``L1.0``, ...), in the order of :meth:`part_evidence`."""
        self._check_fitted()
        return self.parts_.names()

    # ---- storage ------------------------------------------------------------------------------------

    def to_arrays(self) -> dict[str, Any]:
        scalars = {"n_vertices": self.n_vertices_, "history": self.history_, "attributes": list(self.classifiers_)}
        scalars["score_scale"] = self.score_scale_
        arrays = with_prefix(self.demographics_.to_arrays(), "demographics")
        arrays |= with_prefix(self.shape_pca_.to_arrays(), "shape")
        arrays |= with_prefix(self.parts_.to_arrays(), "parts")
        arrays.update(
            snps=self.snps_, train_features=self.train_features_, train_z=self.train_z_,
            predict_temperature=self.predict_temperature_, feature_mean=self.feature_mean_,
            feature_sd=self.feature_sd_, ancestry_standard=self.ancestry_standard_,
            ancestry_centers=self.ancestry_centers_,
        )  # fmt: skip
        arrays |= {f"bins_{k}": v for k, v in self.bin_edges_.items()}
        for key, classifiers in self.classifiers_.items():
            arrays[f"fusion_{key}"] = self.fusion_[key]
            for p, clf in enumerate(classifiers):
                arrays |= with_prefix(clf.to_arrays(), f"clf_{key}_{p}")
        if self.net_ is not None:
            arrays |= with_prefix({k: v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}, "net")
        else:
            for p, pca in enumerate(self.part_pcas_):
                arrays |= with_prefix(pca.to_arrays(), f"part_pca_{p}")
        return scalars | arrays

    def _from_arrays(self, arrays: dict[str, Any]) -> None:
        self.n_vertices_ = int(arrays["n_vertices"])
        self.history_ = arrays["history"]
        self.score_scale_ = float(arrays["score_scale"])
        self.demographics_ = DemographicFeatures.from_arrays(without_prefix(arrays, "demographics"))
        self.shape_pca_ = ShapePCA.from_arrays(without_prefix(arrays, "shape"))
        self.parts_ = FacialParts.from_arrays(without_prefix(arrays, "parts"))
        self.snps_ = arrays["snps"].astype(str)
        for key in ("train_features", "train_z", "predict_temperature", "feature_mean", "feature_sd"):
            setattr(self, f"{key}_", arrays[key])
        self.ancestry_standard_, self.ancestry_centers_ = arrays["ancestry_standard"], arrays["ancestry_centers"]
        self.bin_edges_ = {k: arrays[f"bins_{k}"] for k in ("age", "bmi") if f"bins_{k}" in arrays}
        n_parts = self.parts_.n_parts
        self.classifiers_ = {
            key: [CategoricalClassifiers.from_arrays(without_prefix(arrays, f"clf_{key}_{p}")) for p in range(n_parts)]
            for key in arrays["attributes"]
        }
        self.fusion_ = {key: arrays[f"fusion_{key}"] for key in arrays["attributes"]}
        if self.features == "triplet":
            training = EncoderTraining(self, self.template_vertices_, self.template_triangles_, self.parts_)
            self.net_ = training.load(without_prefix(arrays, "net"))
            self.part_pcas_ = None
        else:
            self.net_ = None
            self.part_pcas_ = [ShapePCA.from_arrays(without_prefix(arrays, f"part_pca_{p}")) for p in range(n_parts)]


# ---- helpers -------------------------------------------------------------------------------------


def _cllr(scores: np.ndarray) -> float:
    """The log-likelihood-ratio cost of a genomes x faces score matrix whose diagonal holds the
    genuine pairs (as genoface.evaluate's cllr, which this layer cannot import)."""
    genuine = np.diag(scores)
    impostor = scores[~np.eye(len(scores), dtype=bool)]
    return 0.5 * (np.logaddexp(0.0, -genuine).mean() + np.logaddexp(0.0, impostor).mean()) / np.log(2.0)


def _bin(values: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    """Bin index of each value by the inner edges; -1 where the value is missing."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isnan(values), -1, np.searchsorted(inner_edges, values, side="right")).astype(np.int64)


def _has_classes(labels: np.ndarray) -> bool:
    """At least two classes with ``_MIN_PER_CLASS`` labelled people each."""
    counts = np.bincount(labels[labels >= 0].ravel(), minlength=2)
    return int((counts >= _MIN_PER_CLASS).sum()) >= 2


def _log_prior(labels: np.ndarray, n_classes: int, hardy_weinberg: bool) -> np.ndarray:
    """(m, C) log class frequencies with a pseudo-count of 1 spread over the classes: for SNPs
    by Hardy-Weinberg proportions (an absent genotype keeps a non-zero prior), else evenly."""
    counts = np.stack([(labels == c).sum(axis=0) for c in range(n_classes)], axis=1).astype(np.float64)
    if hardy_weinberg:
        seen = (labels >= 0).sum(axis=0)
        p = np.clip((np.where(labels >= 0, labels, 0).sum(axis=0) + 1.0) / (2 * seen + 2.0), 1e-6, 1 - 1e-6)
        spread = np.stack([(1 - p) ** 2, 2 * p * (1 - p), p**2], axis=1)
    else:
        spread = np.full(counts.shape, 1.0 / n_classes)
    return np.log((counts + spread) / (counts.sum(axis=1, keepdims=True) + 1.0))


def _one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """(n, m * C) one-hot rows of labels (n, m); a -1 label is a row of zeros."""
    n, m = labels.shape
    out = np.zeros((n, m, n_classes))
    seen = labels >= 0
    rows, cols = np.nonzero(seen)
    out[rows, cols, labels[seen]] = 1.0
    return out.reshape(n, m * n_classes)
