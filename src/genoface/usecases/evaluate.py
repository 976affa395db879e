"""``genoface evaluate``: train each model on the training people and measure it on held-out
people (the evaluation protocol), with the trait predictions and the re-identification audit
among the test people; and the same from paths to a report folder."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from genoface.audit import audit_on_test
from genoface.cohort import Cohort
from genoface.core.errors import GenofaceError
from genoface.core.files import check_output
from genoface.evaluate import (
    DEFAULT_MODELS,
    SETTINGS,
    SNP_FRACTIONS,
    EvaluationResult,
    check_protocol,
    cohort_record,
    evaluate_face_model,
    example_people,
    gap_shares,
    make_examples,
    paired_comparisons,
    split_for_evaluation,
    template_regions,
    trait_metrics,
)
from genoface.models import fit_model, get_model_class, make_model
from genoface.report.evaluation import write_evaluation_report
from genoface.traits import TraitPredictor

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]


def evaluate_models(
    cohort: Cohort,
    *,
    models: Sequence[str] = DEFAULT_MODELS,
    test_cohort: Cohort | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    snp_fractions: Sequence[float] = SNP_FRACTIONS,
    n_boot: int = 200,
    n_examples: int = 4,
    model_params: Mapping[str, dict] | None = None,
    traits: bool = True,
    progress: Progress | None = None,
) -> EvaluationResult:
    """Run the protocol on every model in ``models``.

    Returns an :class:`~genoface.evaluate.EvaluationResult`: ``metrics`` is ``{"cohort": {...},
    "results": [...]}`` (the metric names of the evaluation protocol; what metrics.json holds),
    ``examples`` the true and predicted faces and per-vertex errors, at all SNPs and in both
    settings, of ``n_examples`` test people drawn with ``seed`` (all of them if fewer; 0 for
    none). ``model_params`` maps a model name to its hyper-parameters (defaults otherwise). With
    ``traits`` (and sex recorded for the training people), a trait predictor is fitted too:
    ``metrics["traits"]`` holds its held-out figures and ``metrics["audit"]`` the
    re-identification audit among the test people.
    """
    progress = progress or (lambda stage, done, total: None)
    fractions = check_protocol(snp_fractions, n_examples)
    train, test = split_for_evaluation(cohort, test_cohort, test_fraction, seed)
    if test.n_samples < 10:
        raise GenofaceError(f"only {test.n_samples} test people; the protocol needs at least 10")
    regions = template_regions(cohort)
    shown = example_people(test.n_samples, int(n_examples), seed)
    total, done = len(models) * len(SETTINGS) * len(fractions), [0]

    def step() -> None:
        done[0] += 1
        progress("evaluating", done[0], total)

    training, measured = {}, {}  # training: loss per epoch of the models that train by epochs
    for name in models:
        model = fit_model(make_model(name, **(model_params or {}).get(name, {})), train, progress)
        training |= {name: model.history_} if getattr(model, "history_", None) else {}
        measured[name] = evaluate_face_model(
            model, test, fractions=fractions, shown=shown, regions=regions, n_boot=n_boot, seed=seed, step=step
        )
    results = [record for m in measured.values() for record in m.records]
    metrics = {
        "cohort": cohort_record(cohort, train, test, test_cohort, test_fraction, seed),
        "results": results,
        "comparisons": paired_comparisons({k: m.per_person for k, m in measured.items()}, n_boot=n_boot, seed=seed),
        "shares": gap_shares(results),
    }
    if training:
        metrics["training"] = training
    trait_table = None
    if traits and "sex" in train.covariates:
        dna_scores = {name: m.dna_scores for name, m in measured.items() if m.dna_scores is not None}
        trait_table = _traits_and_audit(train, test, shown, dna_scores, seed, progress, metrics)
    predicted = {name: m.predicted for name, m in measured.items()}
    return EvaluationResult(metrics=metrics, examples=make_examples(cohort, test, shown, predicted, trait_table))


def _traits_and_audit(train, test, shown, dna_scores, seed, progress, metrics: dict):
    """Fit the trait predictor on ``train``; add its held-out figures and the audit among the test
    people (face evidence: ``dna_scores``, of the models whose score is a log LR) to ``metrics``; return the predicted traits of the ``shown`` people (None without)."""
    try:
        predictor = TraitPredictor(random_state=seed).fit(train, progress)
        table = predictor.predict(test.subset(shown)).table() if len(shown) else None
        preds = predictor.predict_bases(test)
        metrics["traits"] = trait_metrics(predictor, test, preds)
        metrics["audit"] = audit_on_test(predictor, test, preds, dna_scores)
    except GenofaceError as exc:  # e.g. no chromosome X: the face evaluation stands on its own
        log.warning("no trait predictions in this evaluation: %s", exc)
        metrics.pop("traits", None)
        return None
    return table


def evaluate_to_folder(
    cohort: str | os.PathLike,
    out: str | os.PathLike,
    *,
    models: Sequence[str] = DEFAULT_MODELS,
    test_cohort: str | os.PathLike | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> tuple[EvaluationResult, Path]:
    """Evaluate ``models`` on the cohort directory ``cohort`` (or against ``test_cohort``) and
    write ``out/metrics.json`` + ``out/report.html``; returns the result and the report's path."""
    for name in models:
        get_model_class(name)  # unknown names fail before any work
    check_output(out, overwrite=overwrite)  # fail before the evaluation, not after
    train = Cohort.load(cohort)
    test = Cohort.load(test_cohort) if test_cohort is not None else None
    result = evaluate_models(
        train, models=models, test_cohort=test, test_fraction=test_fraction, seed=seed, progress=progress
    )
    report = write_evaluation_report(out, result.metrics, examples=result.examples, overwrite=overwrite)
    return result, report
