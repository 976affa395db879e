"""Honest comparison of the models of one evaluation: paired differences from the best other
learnt model, with paired bootstrap intervals, and the shares of the gap to the oracle that a
model closes (issue 13, "Honest comparison")."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from genoface.evaluate._metrics import bootstrap_ci

#: Models that learn nothing from the genome-face pairs' link (the mean face) or know the truth
#: (the oracle): never the "best other learnt model" of a comparison.
NOT_LEARNT = ("mean", "oracle")
#: Per-person metrics compared, and whether lower is better.
COMPARED = {"face_error_mm": True, "top1": False}


def paired_comparisons(
    per_person: Mapping[str, Mapping[str, Mapping[str, np.ndarray]]], *, n_boot: int = 1000, seed: int = 0
) -> list[dict]:
    """For each learnt model and setting: its difference from the best other learnt model (the
    one with the best mean in that setting) in each metric of :data:`COMPARED`, as model − other,
    with a paired bootstrap 95% interval (the same people resampled for both: the interval of
    the mean of the per-person differences). ``per_person[model][setting][metric]`` holds one
    value per test person, in the same order for every model. ``better`` says whether the
    interval excludes 0 on the model's side, ``worse`` on the other's."""
    learnt = [name for name in per_person if name not in NOT_LEARNT]
    records = []
    for name in learnt:
        for setting in per_person[name]:
            for metric, lower_is_better in COMPARED.items():
                others = [o for o in learnt if o != name and metric in per_person[o].get(setting, {})]
                if not others:
                    continue
                sign = 1.0 if lower_is_better else -1.0
                best = min(others, key=lambda o: sign * float(np.mean(per_person[o][setting][metric])))
                diff = np.asarray(per_person[name][setting][metric], float) - per_person[best][setting][metric]
                lo, hi = bootstrap_ci(np.mean, values=diff, n_boot=n_boot, seed=seed)
                records.append(
                    {
                        "model": name,
                        "setting": setting,
                        "metric": metric,
                        "versus": best,
                        "difference": float(diff.mean()),
                        "difference_ci": (lo, hi),
                        "better": bool(hi < 0 if lower_is_better else lo > 0),
                        "worse": bool(lo > 0 if lower_is_better else hi < 0),
                    }
                )
    return records


def gap_shares(results: list[dict], setting: str = "dna+cov") -> list[dict]:
    """Per model, in face_error_mm at full SNP coverage in ``setting``: the gain share
    (mean − model) / (mean − oracle) and the genetic share (demographic − model) /
    (demographic − oracle). Empty unless mean, demographic and oracle were evaluated (the
    oracle needs a simulated cohort's truth)."""
    error = {r["model"]: r["face_error_mm"] for r in results if r["snp_fraction"] == 1.0 and r["setting"] == setting}
    if not all(name in error for name in ("mean", "demographic", "oracle")):
        return []
    oracle = error["oracle"]
    return [
        {
            "model": name,
            "setting": setting,
            "gain_share": _share(error["mean"], value, oracle),
            "genetic_share": _share(error["demographic"], value, oracle),
        }
        for name, value in error.items()
    ]


def _share(baseline: float, value: float, oracle: float) -> float | None:
    """(baseline − value) / (baseline − oracle); None when the oracle does not beat the baseline."""
    gap = baseline - oracle
    return None if gap <= 0 else float((baseline - value) / gap)
