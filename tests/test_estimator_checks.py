"""Common estimator checks, run on every registered face model (as scikit-learn's
``check_estimator`` runs its checks on every estimator).

Each model is fitted once per module, on a small seeded sample of the simulated ``sim_strong``
cohort (the oracle needs its simulation truth), and the checks reuse that fit:

* ``fit`` leaves the constructor parameters untouched;
* ``predict`` and ``score_matrix`` leave the model untouched (learned state and parameters);
* the order of the people does not matter: permuted genomes give permuted predictions and
  permuted score rows, permuted faces give permuted score columns, without and with covariates;
* a save/load round trip predicts and scores identically;
* loading never unpickles (no object arrays on disk, loading works with pickle disabled);
* two fits with the same ``random_state`` predict identically;
* faces on another template, and predictions before ``fit``, are refused with a GenofaceError.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
import random
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conftest import FAST_PARAMS
from genoface.cohort import Cohort
from genoface.core.errors import GenofaceError
from genoface.models import FaceModel, available_models, get_model_class, make_model

MODELS = available_models()
#: Models whose constructor takes a ``random_state`` (the reproducibility check).
SEEDED_MODELS = [n for n in MODELS if "random_state" in inspect.signature(get_model_class(n).__init__).parameters]

N_TRAIN = 160  # difface (FAST_PARAMS: batches of 64) needs at least 128 training people
N_TEST = 12
VARIANT_STEP = 6  # besides the causal and X variants, one in this many variants is kept
#: Permutations: float64 models to 1e-6; models computing in float32 (torch networks) to 1e-5, since
#: their outputs move in the last float32 bits with the composition of a batch.
TOL_PERM_F64, TOL_PERM_F32 = 1e-6, 1e-5
#: Save/load round trip.
RTOL_LOAD, ATOL_LOAD = 1e-9, 1e-9


def params_of(name: str) -> dict[str, Any]:
    """Small hyper-parameters for the slow models, the defaults for the others."""
    return dict(FAST_PARAMS.get(name, {}))


# ---- deep comparison ------------------------------------------------------------------------------


def differences(a: Any, b: Any, where: str = "") -> list[str]:
    """Where ``a`` and ``b`` differ (an empty list when they are equal): arrays by dtype, shape and
    value (NaN equal to NaN), torch modules by state and mode, data frames exactly, containers and
    plain objects member by member."""
    out: list[str] = []
    _compare(a, b, where or "<value>", out, set())
    return out


def _compare(a: Any, b: Any, where: str, out: list[str], seen: set) -> None:
    if len(out) >= 10:
        return
    torch = sys.modules.get("torch")
    if type(a) is not type(b):
        out.append(f"{where}: type {type(a).__name__} != {type(b).__name__}")
        return
    if a is b and isinstance(a, (type(None), bool, int, str, bytes)):
        return
    if isinstance(a, (float, np.floating, complex, np.complexfloating)):
        if not (a == b or (np.isnan(a) and np.isnan(b))):
            out.append(f"{where}: {a!r} != {b!r}")
        return
    if isinstance(a, (type(None), bool, int, str, bytes, np.generic, range, slice, Path)):
        if not a == b:
            out.append(f"{where}: {a!r} != {b!r}")
        return
    if isinstance(a, np.ndarray):
        _compare_arrays(a, b, where, out, seen)
        return
    if torch is not None and isinstance(a, torch.Tensor):
        if a.dtype != b.dtype or a.device != b.device or a.requires_grad != b.requires_grad:
            out.append(f"{where}: tensor {a.dtype}/{a.device} != {b.dtype}/{b.device}")
            return
        _compare_arrays(a.detach().cpu().numpy(), b.detach().cpu().numpy(), where, out, seen)
        return
    if torch is not None and isinstance(a, torch.nn.Module):
        modes_a = [(n, m.training) for n, m in a.named_modules()]
        modes_b = [(n, m.training) for n, m in b.named_modules()]
        if modes_a != modes_b:
            out.append(f"{where}: module train/eval modes differ")
        _compare(dict(a.state_dict()), dict(b.state_dict()), f"{where}.state_dict()", out, seen)
        return
    if isinstance(a, (pd.DataFrame, pd.Series, pd.Index)):
        check = {pd.DataFrame: pd.testing.assert_frame_equal, pd.Series: pd.testing.assert_series_equal}
        try:
            check.get(type(a), pd.testing.assert_index_equal)(a, b, check_exact=True)
        except AssertionError as exc:
            out.append(f"{where}: {str(exc).splitlines()[0]}")
        return
    if isinstance(a, dict):
        if list(a) != list(b):
            out.append(f"{where}: keys {sorted(map(str, a))} != {sorted(map(str, b))}")
            return
        for k in a:
            _compare(a[k], b[k], f"{where}[{k!r}]", out, seen)
        return
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            out.append(f"{where}: length {len(a)} != {len(b)}")
            return
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _compare(x, y, f"{where}[{i}]", out, seen)
        return
    if isinstance(a, (set, frozenset)):
        if a != b:
            out.append(f"{where}: {a!r} != {b!r}")
        return
    if inspect.ismethod(a):
        if a.__func__ is not b.__func__:
            out.append(f"{where}: {a!r} != {b!r}")
        else:
            _compare(a.__self__, b.__self__, f"{where}.__self__", out, seen)
        return
    if inspect.isroutine(a) or isinstance(a, type):
        if a is not b and a != b:
            out.append(f"{where}: {a!r} != {b!r}")
        return
    key = (id(a), id(b))
    if key in seen:
        return
    seen.add(key)
    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            _compare(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}", out, seen)
        return
    if hasattr(a, "__dict__"):
        _compare(vars(a), vars(b), where, out, seen)
        return
    if a != b:
        out.append(f"{where}: {a!r} != {b!r}")


def _compare_arrays(a: np.ndarray, b: np.ndarray, where: str, out: list[str], seen: set) -> None:
    if a.dtype != b.dtype or a.shape != b.shape:
        out.append(f"{where}: array {a.dtype}{a.shape} != {b.dtype}{b.shape}")
    elif a.dtype.hasobject:
        for i, (x, y) in enumerate(zip(a.ravel(), b.ravel(), strict=True)):
            _compare(x, y, f"{where}.flat[{i}]", out, seen)
    elif not np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"):
        changed = ~((a == b) | (np.isnan(a) & np.isnan(b)) if a.dtype.kind in "fc" else (a == b))
        detail = f"{int(changed.sum())} of {a.size} entries"
        if a.dtype.kind in "fciu":
            detail += f", max |diff| {np.nanmax(np.abs(a.astype(np.float64) - b.astype(np.float64))):.3g}"
        out.append(f"{where}: array values differ ({detail})")


def perm_tolerance(model: FaceModel) -> dict[str, float]:
    """``rtol``/``atol`` for outputs of a permuted batch (see ``TOL_PERM_F64``)."""
    torch = sys.modules.get("torch")
    float32 = torch is not None and any(isinstance(v, torch.nn.Module) for v in vars(model).values())
    tol = TOL_PERM_F32 if float32 else TOL_PERM_F64
    return {"rtol": tol, "atol": tol}


def learned_state(model: FaceModel) -> dict[str, Any]:
    """A deep copy of the model's learned state: its attributes whose names end in ``_``."""
    return {k: copy.deepcopy(v) for k, v in vars(model).items() if k.endswith("_")}


def _json_like(value: Any) -> Any:
    """Parameters as JSON keeps them (tuples become lists): for comparing a loaded model's."""
    if isinstance(value, (list, tuple)):
        return [_json_like(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_like(v) for k, v in value.items()}
    return value


# ---- data, fits and reference outputs (once per module) ------------------------------------------


@pytest.fixture(scope="module")
def data(sim_strong) -> SimpleNamespace:
    """A small slice of the simulated cohort (it keeps the cohort's path, so the oracle finds the
    simulation truth): training and test people drawn at random (the cohort is ordered by
    population), and the variants the simulation made causal, chromosome X and one in
    ``VARIANT_STEP`` others (fits of the genome-wide models then take seconds). The test people's
    faces, and their covariates with one age, one BMI and one sex missing (people with and
    without covariates share a batch), and a permutation each of genomes and faces."""
    cohort = Cohort.load(sim_strong.cohort.path)
    truth = sim_strong.truth
    causal = np.concatenate([truth.shape_snps, truth.bmi_snps, truth.ancestry_snps, truth.x_snps]).astype(str)
    variants = cohort.variants
    keep = np.flatnonzero(
        variants["id"].isin(causal).to_numpy()
        | (variants["chrom"] == "X").to_numpy()
        | (np.arange(len(variants)) % VARIANT_STEP == 0)
    )
    rows = np.random.default_rng(0).permutation(cohort.n_samples)

    def people(idx: np.ndarray) -> Cohort:
        idx = np.sort(idx)
        return Cohort(
            sample_ids=cohort.sample_ids[idx],
            genotypes=np.asarray(cohort.genotypes[np.ix_(idx, keep)]),
            variants=variants.iloc[keep].reset_index(drop=True),
            faces=np.asarray(cohort.faces[idx]),
            template_vertices=cohort.template_vertices,
            template_triangles=cohort.template_triangles,
            covariates=cohort.covariates.iloc[idx].copy(),
            meta={**cohort.meta, "n": len(idx)},
            path=cohort.path,
        )

    train, test = people(rows[:N_TRAIN]), people(rows[N_TRAIN : N_TRAIN + N_TEST])
    assert train.truth_dir is not None
    covariates = test.covariates.copy()
    covariates.loc[covariates.index[1], "age"] = np.nan
    covariates.loc[covariates.index[4], "bmi"] = np.nan
    covariates["sex"] = covariates["sex"].astype(object)
    covariates.loc[covariates.index[7], "sex"] = np.nan
    rng = np.random.default_rng(1)
    return SimpleNamespace(
        train=train,
        test=test,
        faces=np.array(test.faces, dtype=np.float32),
        covariates=covariates,
        genome_order=_shuffled(rng, N_TEST),
        face_order=_shuffled(rng, N_TEST),
    )


def _shuffled(rng: np.random.Generator, n: int) -> np.ndarray:
    while True:
        order = rng.permutation(n)
        if (order != np.arange(n)).all():
            return order


class Bench:
    """Fits each model once (lazily), and computes its reference outputs and saves and loads it once."""

    def __init__(self, data: SimpleNamespace, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.data, self.tmp_path_factory = data, tmp_path_factory
        self._fits: dict[str, SimpleNamespace] = {}
        self._outputs: dict[str, SimpleNamespace] = {}
        self._saved: dict[str, SimpleNamespace] = {}

    def fit(self, name: str) -> SimpleNamespace:
        """The fitted model with its parameters deep-copied before and after ``fit``."""
        return self._once(self._fits, name, self._fit)

    def outputs(self, name: str) -> SimpleNamespace:
        """Predictions and score matrices of the test people, without and with covariates, with
        the learned state and parameters deep-copied before and after computing them."""
        return self._once(self._outputs, name, self._predict)

    def saved(self, name: str) -> SimpleNamespace:
        """The fitted model saved, and loaded back with every way to unpickle disabled
        (:func:`load_without_pickle`): the directory, the loaded model or the error, and the
        unpickling calls that were refused."""
        return self._once(self._saved, name, self._save)

    @staticmethod
    def _once(cache: dict, name: str, compute) -> SimpleNamespace:
        """``compute(name)`` the first time; later its result, or its error raised again (a model
        that fails to fit is not fitted again by every check)."""
        if name not in cache:
            try:
                cache[name] = compute(name)
            except Exception as exc:
                cache[name] = exc
                raise
        if isinstance(cache[name], Exception):
            raise cache[name]
        return cache[name]

    def _fit(self, name: str) -> SimpleNamespace:
        model = make_model(name, **params_of(name))
        before = copy.deepcopy(model.get_params())
        returned = model.fit(self.data.train)
        after = copy.deepcopy(model.get_params())
        return SimpleNamespace(model=model, returned=returned, params_before=before, params_after=after)

    def _predict(self, name: str) -> SimpleNamespace:
        model, d = self.fit(name).model, self.data
        out = SimpleNamespace(state_before=learned_state(model), params_before=copy.deepcopy(model.get_params()))
        out.predict = {s: np.asarray(model.predict(d.test, c)) for s, c in settings(d).items()}
        out.score = {s: np.asarray(model.score_matrix(d.test, d.faces, c)) for s, c in settings(d).items()}
        out.state_after, out.params_after = learned_state(model), copy.deepcopy(model.get_params())
        return out

    def _save(self, name: str) -> SimpleNamespace:
        path = Path(self.fit(name).model.save(self.tmp_path_factory.mktemp(f"saved-{name}") / "model"))
        model, error, calls = load_without_pickle(path)
        return SimpleNamespace(path=path, model=model, error=error, calls=calls)


def load_without_pickle(path: Path) -> tuple[FaceModel | None, BaseException | None, list[str]]:
    """``FaceModel.load(path)`` with ``pickle.load``, ``pickle.loads``, ``pickle.Unpickler`` and
    ``torch.load`` raising, and ``numpy.load`` / ``numpy.lib.format.read_array`` refusing
    ``allow_pickle=True``. Returns (the model or None, the error or None, the refused calls)."""
    calls: list[str] = []

    def refuse(what: str):
        def refused(*args, **kwargs):
            calls.append(what)
            raise AssertionError(f"{what} called while loading a model")

        return refused

    class NoUnpickler(pickle.Unpickler):
        def __init__(self, *args, **kwargs):
            calls.append("pickle.Unpickler")
            raise AssertionError("pickle.Unpickler used while loading a model")

    np_load, read_array = np.load, np.lib.format.read_array

    def safe_np_load(*args, **kwargs):
        if kwargs.get("allow_pickle") is True or (len(args) > 2 and args[2] is True):
            calls.append("numpy.load(allow_pickle=True)")
            raise AssertionError("numpy.load(allow_pickle=True) while loading a model")
        return np_load(*args, **kwargs)

    def safe_read_array(*args, **kwargs):
        if kwargs.get("allow_pickle") is True or (len(args) > 1 and args[1] is True):
            calls.append("numpy.lib.format.read_array(allow_pickle=True)")
            raise AssertionError("an array read with allow_pickle=True while loading a model")
        return read_array(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pickle, "load", refuse("pickle.load"))
        mp.setattr(pickle, "loads", refuse("pickle.loads"))
        mp.setattr(pickle, "Unpickler", NoUnpickler)
        mp.setattr(np, "load", safe_np_load)
        mp.setattr(np.lib.format, "read_array", safe_read_array)
        if "torch" in sys.modules:  # torch.load unpickles, even with weights_only
            mp.setattr(sys.modules["torch"], "load", refuse("torch.load"))
        try:
            return FaceModel.load(path), None, calls
        except Exception as exc:
            return None, exc, calls


def settings(d: SimpleNamespace) -> dict[str, pd.DataFrame | None]:
    return {"dna": None, "dna+cov": d.covariates}


@pytest.fixture(scope="module")
def bench(data, tmp_path_factory) -> Bench:
    return Bench(data, tmp_path_factory)


# ---- the checks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_fit_leaves_parameters_untouched(name, bench):
    fit = bench.fit(name)
    assert fit.returned is fit.model, "fit must return self"
    diffs = differences(fit.params_before, fit.params_after, "get_params()")
    assert not diffs, f"{name}: fit changed its constructor parameters:\n" + "\n".join(diffs)


@pytest.mark.parametrize("name", MODELS)
def test_predict_and_score_leave_the_model_untouched(name, bench):
    out = bench.outputs(name)
    assert out.state_before, f"{name}: a fitted model has no learned attributes ending in '_'"
    diffs = differences(out.state_before, out.state_after, "state")
    diffs += differences(out.params_before, out.params_after, "get_params()")
    assert not diffs, f"{name}: predict/score_matrix changed the model:\n" + "\n".join(diffs)


@pytest.mark.parametrize("setting", ["dna", "dna+cov"])
@pytest.mark.parametrize("name", MODELS)
def test_predictions_follow_the_order_of_the_people(name, setting, bench, data):
    model, want = bench.fit(name).model, bench.outputs(name).predict[setting]
    p = data.genome_order
    covariates = settings(data)[setting]
    got = model.predict(data.test.subset(p), None if covariates is None else covariates.iloc[p])
    np.testing.assert_allclose(
        got, want[p], **perm_tolerance(model), err_msg=f"{name}: permuted people, predictions not permuted"
    )


# Both settings in one test, each test with one gallery of faces: the oracle's score matrix
# computes P(face) once per gallery (seconds), and keeps the last gallery's.
@pytest.mark.parametrize("name", MODELS)
def test_score_matrix_rows_follow_the_order_of_the_genomes(name, bench, data):
    model, want = bench.fit(name).model, bench.outputs(name).score
    p = data.genome_order
    for setting, covariates in settings(data).items():
        got = model.score_matrix(data.test.subset(p), data.faces, None if covariates is None else covariates.iloc[p])
        np.testing.assert_allclose(
            got,
            want[setting][p],
            **perm_tolerance(model),
            err_msg=f"{name} ({setting}): permuted genomes, rows not permuted",
        )


@pytest.mark.parametrize("name", MODELS)
def test_score_matrix_columns_follow_the_order_of_the_faces(name, bench, data):
    model, want = bench.fit(name).model, bench.outputs(name).score
    q = data.face_order
    for setting, covariates in settings(data).items():
        got = model.score_matrix(data.test, data.faces[q], covariates)
        np.testing.assert_allclose(
            got,
            want[setting][:, q],
            **perm_tolerance(model),
            err_msg=f"{name} ({setting}): permuted faces, columns not permuted",
        )


@pytest.mark.parametrize("name", MODELS)
def test_save_load_round_trip_predicts_identically(name, bench, data):
    model, want, saved = bench.fit(name).model, bench.outputs(name), bench.saved(name)
    # The model loaded with pickle disabled; loaded again here if that failed (a failure of
    # test_loading_never_unpickles, not of this test).
    loaded = saved.model if saved.error is None else FaceModel.load(saved.path)
    assert type(loaded) is type(model)
    diffs = differences(_json_like(model.get_params()), _json_like(loaded.get_params()), "get_params()")
    assert not diffs, f"{name}: the loaded model has other parameters:\n" + "\n".join(diffs)
    for setting, covariates in settings(data).items():
        np.testing.assert_allclose(
            loaded.predict(data.test, covariates),
            want.predict[setting],
            rtol=RTOL_LOAD,
            atol=ATOL_LOAD,
            err_msg=f"{name} ({setting}): predictions changed by save/load",
        )
        np.testing.assert_allclose(
            loaded.score_matrix(data.test, data.faces, covariates),
            want.score[setting],
            rtol=RTOL_LOAD,
            atol=ATOL_LOAD,
            err_msg=f"{name} ({setting}): score matrix changed by save/load",
        )


@pytest.mark.parametrize("name", MODELS)
def test_loading_never_unpickles(name, bench):
    saved = bench.saved(name)
    files = sorted(p for p in saved.path.rglob("*") if p.is_file())
    pickles = [p.name for p in files if p.suffix.lower() in {".pkl", ".pickle", ".pt", ".pth", ".joblib"}]
    assert not pickles, f"{name}: the model directory holds pickle files: {pickles}"
    npz = [p for p in files if p.suffix == ".npz"]
    assert npz, f"{name}: no .npz file in the model directory ({[p.name for p in files]})"
    for file in npz:
        with np.load(file, allow_pickle=False) as arrays:
            for key in arrays.files:
                a = arrays[key]  # raises ValueError for an object array
                assert not a.dtype.hasobject, f"{name}: {file.name}[{key!r}] is an object array"
    for file in (p for p in files if p.suffix == ".npy"):
        assert not np.load(file, allow_pickle=False).dtype.hasobject, f"{name}: {file.name} is an object array"
    assert not saved.calls, f"{name}: loading the model unpickled: {saved.calls}"
    if saved.error is not None:
        raise AssertionError(f"{name}: loading failed with pickle disabled") from saved.error
    assert type(saved.model) is type(bench.fit(name).model)


@pytest.mark.parametrize("name", SEEDED_MODELS)
def test_same_random_state_gives_the_same_predictions(name, bench, data):
    """A second fit, with the global random generators in another state, predicts exactly as
    the first: the result is a function of ``random_state`` alone."""
    want = bench.outputs(name)
    np.random.seed(12345)
    random.seed(12345)
    np.random.random(7)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(12345)
    again = make_model(name, **params_of(name)).fit(data.train)
    for setting, covariates in settings(data).items():
        np.testing.assert_array_equal(
            again.predict(data.test, covariates), want.predict[setting], err_msg=f"{name} ({setting}): predictions"
        )
        np.testing.assert_array_equal(
            again.score_matrix(data.test, data.faces, covariates),
            want.score[setting],
            err_msg=f"{name} ({setting}): score matrix",
        )


@pytest.mark.parametrize("name", MODELS)
def test_faces_on_another_template_are_refused(name, bench, data):
    model = bench.fit(name).model
    faces = data.faces
    foreign = {
        "one vertex fewer": faces[:, :-1],
        "one vertex more": np.concatenate([faces, faces[:, :1]], axis=1),
        "flattened": faces.reshape(len(faces), -1),
    }
    for what, bad in foreign.items():
        for call in (lambda: model.check_faces(bad), lambda: model.score_matrix(data.test, bad)):  # noqa: B023
            try:
                call()
            except GenofaceError as exc:
                assert "template" in str(exc), f"{name}, faces with {what}: {exc}"
            else:
                pytest.fail(f"{name}: faces with {what} {bad.shape} were accepted")


@pytest.mark.parametrize("name", MODELS)
def test_unfitted_model_refuses_to_predict(name, data, tmp_path):
    model = make_model(name, **params_of(name))
    with pytest.raises(GenofaceError, match="not fitted"):
        model.predict(data.test)
    with pytest.raises(GenofaceError, match="not fitted"):
        model.predict(data.test, data.covariates)
    with pytest.raises(GenofaceError, match="not fitted"):
        model.score_matrix(data.test, data.faces)
    with pytest.raises(GenofaceError, match="not fitted"):
        model.save(tmp_path / "model")
    assert not (tmp_path / "model").exists()
