"""The re-identification audit: how well a genome picks out its owner among candidates, under
four conditions, so that a data custodian sees what DNA adds beyond demographics.

Conditions: traits predicted from the full genome ("dna") or from genetic sex and ancestry
only ("demographics", Erlich's baseline), each with and without the candidates' faces scored
by a face model. Every figure is computed from the rank of each genome's owner among the
candidates: top1, R1 and R10 (owner within the top 1% / 10%), and select-among-N for N = 2 to
100 (Lippert's measure: the chance the owner wins against N - 1 candidates drawn at random,
exact from the rank).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import gammaln

from genoface.audit._candidates import MATCHED_TRAITS
from genoface.audit._scoring import trait_log_lr
from genoface.core.errors import GenofaceError
from genoface.evaluate import RANK_SHARES, assign_faces, rank_threshold
from genoface.traits import TraitPredictions, TraitPredictor

#: (name, trait basis, with faces)
CONDITIONS = (
    ("dna + face", "dna", True),
    ("dna", "dna", False),
    ("demographics + face", "demographic", True),
    ("demographics", "demographic", False),
)
SELECT_SIZES = tuple(range(2, 101))


@dataclass
class AuditResult:
    """Figures per condition (``conditions``: name -> metrics, or a reason it was not run)."""

    n_genomes: int
    n_candidates: int
    n_owners_present: int
    traits_used: list[str]
    conditions: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def owner_ranks(scores: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per genome, how many other candidates score strictly higher than its owner and how many
    tie with it. Trait-only scores tie often (every candidate of the owner's sex and eye colour
    scores alike), so ties are broken at random in every figure, never in the owner's favour."""
    s = np.asarray(scores, dtype=np.float64)
    true = s[np.arange(len(owner)), owner]
    higher = (s > true[:, None]).sum(axis=1)
    tied = (s == true[:, None]).sum(axis=1) - 1  # the owner ties with itself
    return higher, tied


def _log_comb(a, b) -> np.ndarray:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with np.errstate(invalid="ignore"):
        out = gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)
    return np.where((b < 0) | (b > a), -np.inf, out)


def select_among_ties(higher: np.ndarray, tied: np.ndarray, gallery_size: int, k: int) -> np.ndarray:
    """Per genome, the exact chance that its owner ranks first among itself and ``k - 1`` other
    candidates drawn at random, ties broken at random: no higher candidate may be drawn, and
    with j tied ones drawn the owner wins with probability 1 / (j + 1). Without ties this is
    C(N - rank, k - 1) / C(N - 1, k - 1), Lippert's select-among-k."""
    higher, tied = np.asarray(higher)[:, None], np.asarray(tied)[:, None]
    lower = gallery_size - 1 - higher - tied
    j = np.arange(k)[None, :]  # tied candidates among the k - 1 drawn
    log_p = _log_comb(tied, j) + _log_comb(lower, k - 1 - j) - _log_comb(gallery_size - 1, k - 1)
    return (np.exp(log_p) / (j + 1)).sum(axis=1)


def rank_metrics(
    higher: np.ndarray, tied: np.ndarray, gallery_size: int, sizes: Sequence[int] = SELECT_SIZES
) -> dict[str, Any]:
    """top1, R1, R10 (expected over random tie-breaking) with their chance levels, and
    select-among-N for every N in ``sizes`` that the gallery allows (chance 1/N)."""
    higher, tied = np.asarray(higher), np.asarray(tied)

    def within(k: int) -> float:
        # The owner's rank is 1 + higher + u, u uniform on 0..tied.
        return float(np.mean(np.clip(k - higher, 0, tied + 1) / (tied + 1)))

    out: dict[str, Any] = {"gallery_size": int(gallery_size), "top1": within(1), "chance_top1": 1.0 / gallery_size}
    for name in ("R1", "R10"):
        k = rank_threshold(RANK_SHARES[name], gallery_size)
        out[name], out[f"chance_{name}"] = within(k), k / gallery_size
    out["select"] = {
        int(n): float(select_among_ties(higher, tied, gallery_size, int(n)).mean())
        for n in sizes
        if 2 <= n <= gallery_size
    }
    out["mean_rank"] = float(np.mean(1 + higher + tied / 2))
    out["share_tied"] = float(np.mean(tied > 0))
    return out


def run_audit(
    genomes,
    candidates: pd.DataFrame,
    traits: TraitPredictor,
    *,
    face_scores: dict[str, np.ndarray | None] | None = None,
    sizes: Sequence[int] = SELECT_SIZES,
    predictions: dict[str, TraitPredictions] | None = None,
    assign: bool = False,
) -> AuditResult:
    """Audit ``genomes`` (GenotypeData or Cohort) against ``candidates`` (indexed by sample id;
    recorded traits as columns: sex, population, eye_colour, hair_colour, skin_colour,
    height_cm). A genome's owner is the candidate with its sample id.

    ``predictions``: ``traits.predict_bases(genomes)`` when already at hand.
    ``face_scores`` maps a basis ("dna", "demographic") to a (n_genomes, n_candidates) face
    score matrix that is a log likelihood ratio (the ``demographic``, ``lippert``, ``sero`` and
    ``oracle`` models' scores are), added to the trait scores in the "+ face" conditions.
    """
    ids = np.asarray(genomes.sample_ids, dtype=str)
    cand = pd.Index(np.asarray(candidates.index, dtype=str))
    owner = cand.get_indexer(ids)
    present = owner >= 0
    if not present.any():
        raise GenofaceError(
            "no genome's sample id is among the candidates; the audit needs each genome's owner among them "
            f"(genomes e.g. {', '.join(ids[:3])}; candidates e.g. {', '.join(cand[:3])})"
        )
    if len(cand) < 2:
        raise GenofaceError(f"the audit needs at least 2 candidates, got {len(cand)}")
    face_scores = face_scores or {}
    for basis, s in face_scores.items():
        if s is not None and np.shape(s) != (len(ids), len(cand)):
            raise GenofaceError(f"the {basis} face scores have shape {np.shape(s)}, expected {(len(ids), len(cand))}")
    per_basis = {
        b: trait_log_lr(pred, candidates, traits.marginals_)
        for b, pred in (predictions or traits.predict_bases(genomes)).items()
    }
    result = AuditResult(len(ids), len(cand), int(present.sum()), traits_used=list(per_basis["dna"]))
    if present.sum() < len(ids):
        result.notes.append(f"{len(ids) - present.sum()} genomes have no owner among the candidates and are not scored")
    for name, basis, with_face in CONDITIONS:
        parts = per_basis[basis]
        score = sum(parts.values(), np.zeros((len(ids), len(cand))))
        if with_face:
            faces = face_scores.get(basis)
            if faces is None:
                result.conditions[name] = {"not_run": f"no {basis} face model scores were given"}
                continue
            score = score + np.asarray(faces, dtype=np.float64)
        elif not parts:
            result.conditions[name] = {"not_run": "the candidates have no trait on record"}
            continue
        higher, tied = owner_ranks(score[present], owner[present])
        result.conditions[name] = rank_metrics(higher, tied, len(cand), sizes)
        if assign:
            hits = assign_faces(score[present]) == owner[present]
            result.conditions[name]["top1_assigned"] = float(hits.mean())
    return result


#: Face models whose scores go into the audit's "+ face" conditions of an evaluation, in order of
#: preference, and the one that scores faces for the demographic baseline.
AUDIT_FACE_MODELS = ("lippert", "sero", "mahdi")
AUDIT_BASELINE_FACE_MODEL = "demographic"


def audit_on_test(
    predictor: TraitPredictor, test, preds: dict[str, TraitPredictions], dna_scores: dict[str, np.ndarray]
) -> dict:
    """The re-identification audit among the test people (candidates = the test people with
    their recorded traits and faces; a closed set, so with the joint assignment), faces scored by the first of AUDIT_FACE_MODELS evaluated
    and, for the baseline, by the demographic model (``dna_scores``: model -> score matrix of
    the ``dna`` setting at all SNPs)."""
    cov = test.covariates.reindex(test.sample_ids)
    candidates = cov[[c for c in MATCHED_TRAITS if c in cov.columns]]
    face_model = next((m for m in AUDIT_FACE_MODELS if m in dna_scores), None)
    faces = {
        "dna": dna_scores.get(face_model) if face_model else None,
        "demographic": dna_scores.get(AUDIT_BASELINE_FACE_MODEL),
    }
    faces = {k: v for k, v in faces.items() if v is not None}
    audit = run_audit(test, candidates, predictor, face_scores=faces, predictions=preds, assign=True)
    return audit.to_dict() | {
        "face_model": face_model,
        "baseline_face_model": AUDIT_BASELINE_FACE_MODEL if "demographic" in faces else None,
    }
