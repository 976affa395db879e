"""``genoface train``: fit a registered model on a cohort directory and save it with its provenance."""

from __future__ import annotations

import inspect
import json
import logging
import os
from pathlib import Path

from genoface.cohort import Cohort
from genoface.core.errors import GenofaceError
from genoface.core.files import check_output
from genoface.models import fit_model, get_model_class, make_model

log = logging.getLogger(__name__)


def parse_params(items: list[str]) -> dict:
    """``["epochs=50", "device=cuda", "channels=[16,16,16,32]"]`` -> hyper-parameters; values are
    read as JSON where they parse (numbers, lists, true/false/null), else kept as text."""
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise GenofaceError(f"--set {item!r}: write KEY=VALUE, e.g. --set epochs=50")
        try:
            params[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            params[key.strip()] = value
    return params


def train_model(
    cohort: str | os.PathLike | Cohort,
    model: str,
    out: str | os.PathLike,
    *,
    seed: int = 0,
    overwrite: bool = False,
    params: dict | None = None,
    progress=None,
    traits: bool = True,
    processes: int = 1,
) -> Path:
    """Fit model ``model`` (with hyper-parameters ``params``) on every person of ``cohort`` and
    write it to ``out``; with ``traits``, also the trait predictor (sex, ancestry, pigmentation,
    height, as the cohort's labels allow) into ``out/traits``. ``processes`` > 1 trains a model
    that can (``difface``) data-parallel on that many processes. Under ``torchrun`` every rank
    trains and rank 0 alone writes ``out``."""
    out = check_output(out, overwrite=overwrite)  # fail before training, not after
    cls = get_model_class(model)
    params = dict(params or {})
    accepted = inspect.signature(cls.__init__).parameters
    if processes != 1:
        if "processes" not in accepted:
            raise GenofaceError(
                f"--processes {processes}: the {model!r} model trains in one process; only difface trains on several"
            )
        params["processes"] = processes
    if "random_state" in accepted:
        params.setdefault("random_state", seed)
    data = cohort if isinstance(cohort, Cohort) else Cohort.load(cohort)
    fitted = fit_model(make_model(model, **params), data, progress)
    if "WORLD_SIZE" in os.environ and _torchrun_secondary():
        return out  # a torchrun rank other than 0: every rank holds the same model, rank 0 writes it
    attach = None
    if traits:
        from genoface.traits import TRAITS_SUBDIR, TraitPredictor

        try:
            predictor = TraitPredictor(random_state=seed).fit(data, progress=progress)
        except GenofaceError as exc:  # the face model stands on its own
            log.warning("no trait predictor in %s: %s", out, exc)
        else:

            def attach(directory: Path) -> None:
                (directory / TRAITS_SUBDIR).mkdir()
                predictor.write_into(directory / TRAITS_SUBDIR)

    return fitted.save(out, provenance={"seed": seed}, overwrite=overwrite, attach=attach)


def _torchrun_secondary() -> bool:
    """Whether torchrun started this process as a rank other than 0."""
    from genoface.models.difface import torchrun_ranks  # torch is imported only under torchrun

    ranks = torchrun_ranks()
    return ranks is not None and ranks[0] != 0
