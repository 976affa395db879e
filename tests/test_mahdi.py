"""The mahdi model: facial parts, part encoders trained by a triplet loss, attribute classifiers
fused into a likelihood score (Mahdi et al. 2022). The common model checks (save/load,
permutations, seeds) run on it in test_estimator_checks."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from scipy.stats import mannwhitneyu

from genoface.cohort import Cohort
from genoface.core.errors import GenofaceError
from genoface.evaluate import cllr
from genoface.genetics import align_dosages
from genoface.models import FaceModel, MahdiModel, available_models, make_model
from genoface.models.mahdi import facial_parts, triplet_loss, vertex_rv
from genoface.shape import ShapePCA, builtin_shape_model

#: Small and quick: two levels of parts (7), 8-d embeddings, 3 epochs.
SMALL = dict(levels=2, embed_dim=8, channels=(8, 8), epochs=3, snp_triplets=1, n_snps=1)
#: mm per ALT allele at the nose, outwards (towards the viewer).
EFFECT_MM = 2.0


# ---- the triplet loss and the vertex correlations, by hand -------------------------------------


def test_triplet_loss_by_hand():
    e = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    labels = torch.tensor([[0, 0, 1, 1], [0, 1, -1, 1], [0, 0, 0, 0]])
    # Squared distances: d01 1, d02 1, d03 9, d12 2, d13 4, d23 10; margin 0.5.
    # Attribute 1 (8 valid triplets): anchor 0: max(0, 1-1+.5) + max(0, 1-9+.5) = 0.5; anchor 1: 0 + 0;
    # anchor 2 (positive 3): (10-1+.5) + (10-2+.5) = 18; anchor 3 (positive 2): (10-9+.5) + (10-4+.5) = 8.
    first = (0.5 + 18 + 8) / 8
    # Attribute 2 (person 2 unknown): anchor 1, positive 3, negative 0: 4-1+.5; anchor 3: max(0, 4-9+.5).
    second = 3.5 / 2
    # Attribute 3 has no negative: no valid triplet, so it is left out of the mean.
    expected = (first + second) / 2
    assert triplet_loss(e, labels, 0.5).item() == pytest.approx(expected)
    # A leading dimension (the parts) sums the parts' losses.
    assert triplet_loss(torch.stack([e, e]), labels, 0.5).item() == pytest.approx(2 * expected)


def test_rv_coefficients_equal_their_definition_on_the_covariance():
    rng = np.random.default_rng(0)
    k, v = 5, 7
    components = np.linalg.qr(rng.normal(size=(3 * v, k)))[0].T
    variances = rng.uniform(0.5, 3.0, k)
    cov = components.T @ np.diag(variances) @ components  # (3V, 3V)
    rv = vertex_rv(components, variances)
    for i in range(v):
        for j in range(v):
            cij, cii, cjj = (cov[3 * a : 3 * a + 3, 3 * b : 3 * b + 3] for a, b in ((i, j), (i, i), (j, j)))
            expected = (cij**2).sum() / np.sqrt((cii**2).sum() * (cjj**2).sum())
            assert rv[i, j] == pytest.approx(expected, abs=1e-5)
    # Vertices that never move together: RV 0.
    independent = np.zeros((2, 6))
    independent[0, 0], independent[1, 4] = 1.0, 1.0
    assert vertex_rv(independent, np.ones(2))[0, 1] == pytest.approx(0.0)


def test_parts_are_nested_connected_partitions_of_the_face():
    shape = builtin_shape_model()
    rng = np.random.default_rng(1)
    b = rng.normal(size=(200, shape.basis.shape[1])) * np.sqrt(shape.eigenvalues)
    faces = shape.mean + (b @ shape.basis.T).reshape(200, -1, 3)
    pca = ShapePCA(20).fit(faces)
    parts = facial_parts(pca.components_, pca.explained_variance_, shape.triangles, 2, min_vertices=64)
    assert parts.names()[:3] == ["face", "L1.0", "L1.1"]
    v = shape.mean.shape[0]
    for level in range(3):
        members = [m for m, lv in zip(parts.members, parts.level, strict=True) if lv == level]
        assert np.array_equal(np.sort(np.concatenate(members)), np.arange(v))  # a partition
        assert all(len(m) >= 64 for m in members)
    t = shape.triangles
    edges = np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]])
    mesh = sp.csr_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(v, v))
    for k in range(1, parts.n_parts):
        assert np.isin(parts.members[k], parts.members[parts.parent[k]]).all()  # nested
        m = parts.members[k]
        assert connected_components(mesh[m][:, m], directed=False)[0] == 1  # one patch
    with pytest.raises(GenofaceError, match="levels"):
        facial_parts(pca.components_, pca.explained_variance_, shape.triangles, 9)


# ---- a strong single-SNP effect at the nose ----------------------------------------------------


def _nose_weight(template: np.ndarray) -> np.ndarray:
    """1 on the built-in face's nose, a Gaussian fall-off (8 mm) around it."""
    nose = builtin_shape_model().region_mask("nose")
    distance, _ = cKDTree(template[nose]).query(template)
    return np.exp(-0.5 * (distance / 8.0) ** 2)


@pytest.fixture(scope="module")
def nose_cohort(sim_strong) -> tuple[Cohort, str, np.ndarray]:
    """500 people of the strong-loci cohort whose noses also grow with one common SNP's ALT dosage;
    returns the cohort, the SNP and the effect's weight per vertex."""
    cohort = Cohort.load(sim_strong.cohort.path).subset(np.arange(500))
    auto = ~cohort.variants["chrom"].astype(str).isin(["X", "23"]).to_numpy()
    g = np.asarray(cohort.genotypes, dtype=float)
    freq = np.where(g >= 0, g, np.nan).mean(axis=0) / 2
    snp = cohort.variants["id"].to_numpy()[np.flatnonzero(auto & (np.abs(freq - 0.4) < 0.05) & (g >= 0).all(0))[0]]
    dosage = align_dosages(cohort.genotypes, cohort.variants["id"], np.array([snp]))[:, 0]
    weight = _nose_weight(cohort.template_vertices)
    faces = np.array(cohort.faces, dtype=np.float64)
    faces[:, :, 2] += EFFECT_MM * dosage[:, None] * weight[None, :]
    return replace(cohort, faces=faces.astype(np.float32)), str(snp), weight


@pytest.fixture(scope="module")
def nose_fit(nose_cohort) -> tuple[MahdiModel, Cohort, Cohort]:
    cohort, _, _ = nose_cohort
    train, test = cohort.subset(np.arange(400)), cohort.subset(np.arange(400, 500))
    return make_model("mahdi", **SMALL).fit(train), train, test


def _carrier_auc(scores: np.ndarray, dosage: np.ndarray) -> float:
    """For the carriers' genomes, how often a carrier's face outscores a non-carrier's (pooled over genomes)."""
    carrier = dosage >= 1
    rows = scores[carrier]
    return float(np.mean([mannwhitneyu(r[carrier], r[~carrier]).statistic / (carrier.sum() * (~carrier).sum())
                          for r in rows]))  # fmt: skip


def test_a_strong_snp_ranks_its_carriers_faces_above_chance(nose_fit, nose_cohort):
    model, _, test = nose_fit
    _, snp, _ = nose_cohort
    assert list(model.snps_) == [snp]  # the GWAS finds the SNP
    dosage = align_dosages(test.genotypes, test.variants["id"], np.array([snp]))[:, 0]
    model.terms = "snps"
    try:
        scores = model.score_matrix(test, np.asarray(test.faces))
    finally:
        model.terms = "all"
    assert _carrier_auc(scores, dosage) > 0.75


def test_the_part_holding_the_effect_carries_the_evidence(nose_fit, nose_cohort):
    model, _, test = nose_fit
    _, snp, weight = nose_cohort
    dosage = align_dosages(test.genotypes, test.variants["id"], np.array([snp]))[:, 0]
    model.terms = "snps"
    try:
        evidence = model.part_evidence(test, np.asarray(test.faces))
    finally:
        model.terms = "all"
    deepest = np.flatnonzero(model.parts_.level == model.parts_.level.max())
    share = np.array([weight[model.parts_.members[k]].sum() / weight.sum() for k in deepest])
    auc = np.array([_carrier_auc(evidence[k], dosage) for k in deepest])
    holder, farthest = np.argmax(share), np.argmin(share)
    # The part holding most of the effect is (within sampling noise) the best one alone, well above
    # the part holding least of it; so is the half of the face holding most of it.
    assert auc[holder] >= auc.max() - 0.05, (model.part_names, share, auc)
    assert auc[holder] > auc[farthest] + 0.15, (model.part_names, share, auc)
    halves = np.flatnonzero(model.parts_.level == 1)
    half_share = [weight[model.parts_.members[k]].sum() for k in halves]
    half_auc = [_carrier_auc(evidence[k], dosage) for k in halves]
    assert np.argmax(half_auc) == np.argmax(half_share), (half_share, half_auc)


def test_the_calibrated_score_is_an_informative_likelihood_ratio(nose_fit):
    model, _, test = nose_fit
    assert 0 < model.score_scale_ < 4
    for cov in (None, test.covariates):
        assert cllr(model.score_matrix(test, np.asarray(test.faces), cov)) < 1.0  # held-out people


def test_save_load_scores_identically(nose_fit, tmp_path):
    model, _, test = nose_fit
    faces = np.asarray(test.faces)
    loaded = FaceModel.load(model.save(tmp_path / "mahdi"))
    assert isinstance(loaded, MahdiModel)
    for cov in (None, test.covariates):
        assert np.array_equal(loaded.score_matrix(test, faces, cov), model.score_matrix(test, faces, cov))
        assert np.array_equal(loaded.predict(test, cov), model.predict(test, cov))
    assert np.array_equal(loaded.part_evidence(test, faces), model.part_evidence(test, faces))


def test_the_score_is_a_sum_of_attribute_terms(nose_fit):
    model, _, test = nose_fit
    faces = np.asarray(test.faces)
    total = model.score_matrix(test, faces, test.covariates)
    parts = 0.0
    for term in ("snps", "sex", "ancestry", "age", "bmi"):
        model.terms = term
        parts = parts + model.score_matrix(test, faces, test.covariates)
    model.terms = "all"
    np.testing.assert_allclose(total, parts, atol=1e-9)
    assert model.score_is_log_lr and "mahdi" in available_models()


# ---- training: checkpoints, the shape-PCA ablation, bad parameters -------------------------------


class _Interrupted(Exception):
    pass


def test_an_interrupted_fit_resumes_from_its_checkpoint(nose_cohort, tmp_path):
    cohort = nose_cohort[0].subset(np.arange(200))
    params = SMALL | dict(levels=1, epochs=3, checkpoint_dir=str(tmp_path / "ckpt"))

    def stop_after_two(stage, done, total):
        if stage == "mahdi: part encoders" and done == 2:
            raise _Interrupted

    with pytest.raises(_Interrupted):
        make_model("mahdi", **params).fit(cohort, progress=stop_after_two)
    assert (tmp_path / "ckpt" / "checkpoint.pt").exists()
    seen = []
    resumed = make_model("mahdi", **params).fit(cohort, progress=lambda s, d, t: seen.append((s, d)))
    assert [d for s, d in seen if s == "mahdi: part encoders"] == [3]  # only the last epoch ran again
    straight = make_model("mahdi", **(params | {"checkpoint_dir": None})).fit(cohort)
    faces = np.asarray(cohort.faces[:20])
    np.testing.assert_array_equal(resumed.score_matrix(cohort, faces), straight.score_matrix(cohort, faces))
    assert resumed.history_ == straight.history_


def test_shape_features_are_the_ablation_without_metric_learning(nose_cohort):
    cohort = nose_cohort[0].subset(np.arange(300))
    model = make_model("mahdi", **(SMALL | dict(features="shape"))).fit(cohort)
    assert model.net_ is None and len(model.part_pcas_) == model.parts_.n_parts
    scores = model.score_matrix(cohort, np.asarray(cohort.faces[:30]))
    assert scores.shape == (300, 30) and np.isfinite(scores).all()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (dict(features="pixels"), "features"),
        (dict(levels=9), "levels"),
        (dict(calibration_fraction=0.9), "calibration_fraction"),
        (dict(terms="snps,eyes"), "terms"),
        (dict(n_ancestry_groups=1), "n_ancestry_groups"),
        (dict(channels="8,8"), "channels"),  # --set channels=8,8 instead of [8,8]
        (dict(margin=0), "margin"),
    ],
)
def test_bad_parameters_are_refused(nose_cohort, params, message):
    with pytest.raises(GenofaceError, match=message):
        make_model("mahdi", **(SMALL | params)).fit(nose_cohort[0].subset(np.arange(100)))
