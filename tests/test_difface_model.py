"""The `difface` model end to end: training, prediction with and without covariates, sampling,
age projection, checkpoints and resuming, saving and loading. Small networks (FAST_PARAMS):
these tests check behaviour; skill is measured by bench/ and the evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import FAST_PARAMS
from genoface.cohort import Cohort
from genoface.core.errors import GenofaceError
from genoface.models import DiffaceModel, FaceModel

TINY = FAST_PARAMS["difface"]


@pytest.fixture(scope="module")
def split(sim_strong):
    cohort = Cohort.load(sim_strong.cohort.path)
    train, test = cohort.split(0.2, seed=0)
    return train.subset(np.arange(400)), test.subset(np.arange(30))


@pytest.fixture(scope="module")
def model(split):
    return DiffaceModel(**TINY).fit(split[0])


def test_predicts_faces_with_and_without_covariates(model, split):
    _, test = split
    dna = model.predict(test)
    cov = model.predict(test, test.covariates)
    assert dna.shape == cov.shape == (test.n_samples, test.n_vertices, 3)
    assert np.isfinite(dna).all() and not np.allclose(dna, cov)
    assert model.history_["reconstruction_l1_mm"] and len(model.history_["diffusion"]) == TINY["prior_epochs"]


def test_diffusion_point_estimate_is_available(model, split):
    _, test = split
    model.point_estimate = "diffusion"
    try:
        out = model.predict(test)
    finally:
        model.point_estimate = "regression"
    assert out.shape == (test.n_samples, test.n_vertices, 3) and not np.allclose(out, model.predict(test))
    with pytest.raises(GenofaceError, match="point_estimate must be"):
        DiffaceModel(**TINY, point_estimate="median").fit(split[0])


def test_age_projection_changes_the_face(model, split):
    _, test = split
    person = test.subset([0])
    cov = person.covariates.copy()
    faces = []
    for age in (20, 70):
        cov["age"] = age
        faces.append(model.predict(person, cov)[0])
    assert np.abs(faces[1] - faces[0]).max() > 1e-3


def test_samples_are_seeded_and_diverse(model, split):
    _, test = split
    people = test.subset([0, 1])
    a = model.sample(people, n=3, seed=1)
    assert a.shape == (2, 3, test.n_vertices, 3)
    np.testing.assert_array_equal(a, model.sample(people, n=3, seed=1))
    assert not np.allclose(a, model.sample(people, n=3, seed=2))
    assert not np.allclose(a[0, 0], a[0, 1])  # several plausible faces for one genome
    with pytest.raises(GenofaceError, match="n must be at least 1"):
        model.sample(people, n=0)


def test_save_load_gives_identical_predictions_and_samples(model, split, tmp_path):
    _, test = split
    loaded = FaceModel.load(model.save(tmp_path / "m"))
    np.testing.assert_array_equal(loaded.predict(test, test.covariates), model.predict(test, test.covariates))
    np.testing.assert_array_equal(loaded.sample(test.subset([0]), 2, seed=3), model.sample(test.subset([0]), 2, seed=3))
    np.testing.assert_array_equal(loaded.score_matrix(test, test.faces), model.score_matrix(test, test.faces))


def test_missing_snps_are_their_own_token(model, split):
    _, test = split
    masked = test.subset(np.arange(test.n_samples))
    masked.genotypes[:] = np.where(np.isin(masked.variants["id"], model.snps_), -1, masked.genotypes)
    out = model.predict(masked)
    assert np.isfinite(out).all() and not np.allclose(out, model.predict(test))


def test_interrupted_training_resumes_where_it_stopped(split, tmp_path):
    train, test = split
    params = {**TINY, "epochs": 2, "prior_epochs": 2}
    whole = DiffaceModel(**params).fit(train)

    class Stop(Exception):
        pass

    def stop_in_stage_two(stage, done, total):
        if stage.endswith("prior") and done == 1:
            raise Stop

    checkpoints = tmp_path / "ckpt"
    with pytest.raises(Stop):
        DiffaceModel(**params, checkpoint_dir=str(checkpoints)).fit(train, progress=stop_in_stage_two)
    assert (checkpoints / "checkpoint.pt").exists()
    resumed = DiffaceModel(**params, checkpoint_dir=str(checkpoints)).fit(train)
    assert resumed.history_ == whole.history_
    np.testing.assert_allclose(resumed.predict(test), whole.predict(test), atol=1e-5)


def test_too_few_people_is_a_clear_error(split):
    with pytest.raises(GenofaceError, match="needs at least"):
        DiffaceModel(**TINY).fit(split[0].subset(np.arange(30)))


def test_evaluation_reports_the_loss_curves(split, tmp_path):
    from genoface.report.evaluation import write_evaluation_report
    from genoface.usecases.evaluate import evaluate_models

    train, test = split
    run = evaluate_models(
        train, models=("mean", "difface"), model_params={"difface": TINY}, test_cohort=test,
        snp_fractions=(1.0,), n_boot=2, n_examples=1,
    )  # fmt: skip
    curves = run.metrics["training"]["difface"]
    assert len(curves["diffusion"]) == TINY["prior_epochs"] and "mean" not in run.metrics["training"]
    html = write_evaluation_report(tmp_path / "r", run.metrics, examples=run.examples).read_text()
    assert "<h3>Training</h3>" in html and "training loss curves" in html


def test_step_caps_bound_the_epochs_of_large_cohorts():
    m = DiffaceModel(epochs=30, prior_epochs=200, max_steps=3000, prior_max_steps=10_000, batch_size=32)
    assert m._epochs("alignment", 480) == 30 and m._epochs("prior", 480) == 200  # 15 batches per epoch
    assert m._epochs("alignment", 8000) == 12 and m._epochs("prior", 8000) == 40  # 250 batches per epoch
    m.max_steps = m.prior_max_steps = None
    assert m._epochs("alignment", 8000) == 30 and m._epochs("prior", 8000) == 200
