"""The audit table as text, one row per condition: shared by the HTML report and the terminal."""

from __future__ import annotations

from dataclasses import dataclass

#: Columns of the audit tables after the condition's name.
COLUMNS = ("top1", "R1", "R10", "select 2", "select 10", "select 100", "top1 assigned")


@dataclass(frozen=True)
class ConditionRow:
    name: str
    cells: list[str]  # the condition's figures in the order of COLUMNS; empty when it did not run
    not_run: str | None  # why the condition did not run; None when it ran


def conditions_run(audit: dict) -> dict[str, dict]:
    """The conditions of ``audit`` that ran, by name."""
    return {name: m for name, m in audit["conditions"].items() if "not_run" not in m}


def _select_at(m: dict, n: int) -> str:
    value = m["select"].get(n, m["select"].get(str(n)))  # int keys in memory, str keys read from JSON
    return "" if value is None else f"{value:.3f}"


def _cells(m: dict) -> list[str]:
    assigned = f"{m['top1_assigned']:.3f}" if "top1_assigned" in m else ""  # only audits run with --assign
    return [
        f"{m['top1']:.3f}",
        f"{m['R1']:.3f}",
        f"{m['R10']:.3f}",
        *(_select_at(m, n) for n in (2, 10, 100)),
        assigned,
    ]


def condition_rows(audit: dict) -> list[ConditionRow]:
    """Every condition of ``audit``, in its order."""
    return [
        ConditionRow(name, [], m["not_run"]) if "not_run" in m else ConditionRow(name, _cells(m), None)
        for name, m in audit["conditions"].items()
    ]


def chance_cells(audit: dict) -> list[str] | None:
    """The chance levels in the order of COLUMNS ("" where the gallery is too small for select N);
    None when no condition ran."""
    first = next(iter(conditions_run(audit).values()), None)
    if first is None:
        return None
    g = first["gallery_size"]
    chance = [
        first["chance_top1"],
        first["chance_R1"],
        first["chance_R10"],
        0.5,
        0.1 if g >= 10 else None,
        0.01 if g >= 100 else None,
        first["chance_top1"] if "top1_assigned" in first else None,  # a random one-to-one assignment
    ]
    return ["" if c is None else f"{c:.3f}" for c in chance]
