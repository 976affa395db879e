"""The audit's outputs: audit.json, the HTML section with the select-among-N curves, and the
terminal summary."""

from __future__ import annotations

import html
import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

from genoface.core.files import atomic_directory, write_json
from genoface.report._page import SIMULATED_BANNER, page, png_tag

_STYLES = {"dna + face": "-", "dna": "--", "demographics + face": "-", "demographics": "--"}
_COLOURS = {"dna + face": "C0", "dna": "C0", "demographics + face": "C1", "demographics": "C1"}


def _run(audit: dict) -> dict[str, dict]:
    return {name: m for name, m in audit["conditions"].items() if "not_run" not in m}


def select_figure(audit: dict) -> str:
    """Select-among-N against N for every condition that ran, with chance (1/N)."""
    runs = _run(audit)
    if not runs:
        return ""
    fig = Figure(figsize=(6.5, 4))
    ax = fig.subplots()
    for name, m in runs.items():
        n = np.array(sorted(m["select"], key=int), dtype=int)
        ax.plot(n, [m["select"][k] for k in n], _STYLES.get(name, "-"), color=_COLOURS.get(name), label=name)
    n = np.arange(2, max(int(k) for m in runs.values() for k in m["select"]) + 1)
    ax.plot(n, 1 / n, ":", color="grey", label="chance (1/N)")
    ax.set(xlabel="N candidates (the owner and N - 1 drawn at random)", ylabel="P(owner ranked first)", ylim=(0, 1.02))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return png_tag(fig, "select-among-N curves")


def _select_at(m: dict, n: int) -> str:
    value = m["select"].get(n, m["select"].get(str(n)))
    return "" if value is None else f"{value:.3f}"


#: Columns of the audit tables after the condition's name.
COLUMNS = ("top1", "R1", "R10", "select 2", "select 10", "select 100")


def _cells(m: dict) -> list[str]:
    """One condition's figures, in the order of COLUMNS."""
    return [f"{m['top1']:.3f}", f"{m['R1']:.3f}", f"{m['R10']:.3f}", *(_select_at(m, n) for n in (2, 10, 100))]


def audit_table_html(audit: dict) -> str:
    rows = []
    for name, m in audit["conditions"].items():
        if "not_run" in m:
            rows.append(f"<tr><td>{html.escape(name)}</td><td colspan=6>not run: {html.escape(m['not_run'])}</td></tr>")
            continue
        cells = _cells(m)
        rows.append(f"<tr><td>{html.escape(name)}</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    first = next(iter(_run(audit).values()), None)
    if first is not None:
        g = first["gallery_size"]
        chance = [
            first["chance_top1"],
            first["chance_R1"],
            first["chance_R10"],
            0.5,
            0.1 if g >= 10 else None,
            0.01 if g >= 100 else None,
        ]
        rows.append(
            "<tr class=chance><td>chance</td>"
            + "".join(f"<td>{'' if c is None else f'{c:.3f}'}</td>" for c in chance)
            + "</tr>"
        )
    head = "<tr>" + "".join(f"<th>{c}</th>" for c in ("condition", *COLUMNS)) + "</tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def audit_section(audit: dict) -> str:
    """The report body of one audit (no page wrapper)."""
    traits = ", ".join(audit["traits_used"]) or "none"
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in audit.get("notes", []))
    return (
        (SIMULATED_BANNER if audit.get("simulated") else "") + "<h2>Re-identification audit</h2>"
        f"<p>{audit['n_owners_present']:,} genomes matched against {audit['n_candidates']:,} candidates. Traits on "
        f"record: {html.escape(traits)}. <code>dna</code>: traits predicted from the whole genome; "
        "<code>demographics</code>: from genetic sex and ancestry only (Erlich's baseline); <code>+ face</code>: the "
        "candidates' faces scored by the face model. select N: the chance that the owner ranks first among "
        "itself and N - 1 candidates drawn at random.</p>"
        + audit_table_html(audit)
        + select_figure(audit)
        + (f"<ul>{notes}</ul>" if notes else "")
    )


def write_audit_report(out: str | os.PathLike, audit: dict, *, overwrite: bool = False) -> Path:
    """Write ``out/audit.json`` and ``out/audit.html`` atomically; returns the HTML path."""
    with atomic_directory(out, overwrite=overwrite) as tmp:
        write_json(tmp / "audit.json", audit)
        (tmp / "audit.html").write_text(page("genoface audit", "<h1>genoface audit</h1>" + audit_section(audit)))
    return Path(out) / "audit.html"


def print_audit(console: Console, audit: dict) -> None:
    table = Table(
        title=f"Re-identification audit: {audit['n_owners_present']} genomes, {audit['n_candidates']} candidates"
    )
    for col in ("condition", *COLUMNS):
        table.add_column(col, justify="left" if col == "condition" else "right")
    for name, m in audit["conditions"].items():
        if "not_run" in m:
            table.add_row(name, f"not run: {m['not_run']}", "", "", "", "", "")
        else:
            table.add_row(name, *_cells(m))
    console.print(table)
