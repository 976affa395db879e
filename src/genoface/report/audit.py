"""The audit's report: audit.json and audit.html, and the audit's HTML section that the
evaluation report embeds. (The terminal table: genoface.report.summary.print_audit.)"""

from __future__ import annotations

import os
from pathlib import Path

from genoface.core.files import atomic_directory, write_json
from genoface.report._page import figure_data_uri, render, render_macro
from genoface.report.audit_table import COLUMNS, chance_cells, condition_rows, conditions_run
from genoface.report.figures import select_figure


def audit_view(audit: dict) -> dict:
    """What the audit section (templates/audit_section.html) shows of ``audit``."""
    figure = select_figure(conditions_run(audit))
    return {
        "audit": audit,
        "traits": ", ".join(audit["traits_used"]) or "none",
        "columns": ("condition", *COLUMNS),
        "rows": condition_rows(audit),
        "chance": chance_cells(audit),
        "figure": None if figure is None else figure_data_uri(figure),
        "notes": audit.get("notes", []),
    }


def audit_section(audit: dict) -> str:
    """The report body of one audit (no page wrapper)."""
    return render_macro("audit_section.html", "audit_section", audit_view(audit))


def write_audit_report(out: str | os.PathLike, audit: dict, *, overwrite: bool = False) -> Path:
    """Write ``out/audit.json`` and ``out/audit.html`` atomically; returns the HTML path."""
    with atomic_directory(out, overwrite=overwrite) as tmp:
        write_json(tmp / "audit.json", audit)
        (tmp / "audit.html").write_text(render("audit.html", view=audit_view(audit)), encoding="utf-8")
    return Path(out) / "audit.html"
