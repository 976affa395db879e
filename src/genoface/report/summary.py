"""Terminal summaries (rich tables) of a cohort, its variance decomposition and an audit, and the
cohort rows that the demo page shows too."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from genoface.report.audit_table import COLUMNS, condition_rows
from genoface.simulate import COMPONENTS


def cohort_overview(cohort) -> list[tuple[str, str]]:
    """(label, value) rows describing a cohort, shared by the terminal and HTML summaries."""
    s = cohort.summary()
    cov = cohort.covariates
    rows = [
        ("cohort", f"{cohort.meta.get('name', '?')}" + ("  [simulated]" if cohort.is_simulated else "")),
        ("people", f"{cohort.n_samples:,}"),
        ("populations", ", ".join(f"{k} {v:,}" for k, v in s.get("populations", {}).items()) or "-"),
        ("sex", ", ".join(f"{k} {v:,}" for k, v in s.get("sex", {}).items())),
        ("age (years)", f"{cov['age'].mean():.1f} ± {cov['age'].std():.1f}"),
        ("BMI (kg/m²)", f"{cov['bmi'].mean():.1f} ± {cov['bmi'].std():.1f}"),
        ("SNPs", f"{cohort.n_variants:,} ({int((cohort.variants['chrom'] == 'X').sum()):,} on X)"),
        ("face vertices", f"{cohort.n_vertices:,}"),
    ]
    sim = cohort.meta.get("simulation")
    if sim:
        rows.append(("shape model", str(sim.get("shape_model"))))
        rows.append(("preset / seed", f"{sim.get('preset')} / {sim.get('seed')}"))
    return rows


def variance_rows(variance: dict) -> list[tuple[str, float, float]]:
    """(component, requested share, realized share) for each source of shape variance."""
    req, real = variance["requested"], variance["realized"]
    rows = [(c, req.get(c, 0.0), real[c]) for c in COMPONENTS]
    rows.append(("total", sum(req.values()), real["total"]))
    return rows


def print_cohort_summary(console: Console, cohort, variance: dict | None = None) -> None:
    table = Table(title="Cohort", show_header=False, title_justify="left")
    for label, value in cohort_overview(cohort):
        table.add_row(label, value)
    console.print(table)
    if variance:
        vt = Table(title="Facial shape variance (share of total), simulated", title_justify="left")
        vt.add_column("component")
        vt.add_column("requested", justify="right")
        vt.add_column("realized", justify="right")
        for name, req, real in variance_rows(variance):
            vt.add_row(name, f"{req:.3f}", f"{real:.3f}")
        console.print(vt)


def print_audit(console: Console, audit: dict) -> None:
    table = Table(
        title=f"Re-identification audit: {audit['n_owners_present']} genomes, {audit['n_candidates']} candidates"
    )
    # The condition's name is never cut (the figures' headers wrap instead on a narrow terminal).
    table.add_column("condition", justify="left", no_wrap=True, min_width=len("demographics + face"))
    for col in COLUMNS:
        table.add_column(col, justify="right")
    for row in condition_rows(audit):
        if row.not_run is not None:
            table.add_row(row.name, f"not run: {row.not_run}", *[""] * (len(COLUMNS) - 1))
        else:
            table.add_row(row.name, *row.cells)
    console.print(table)
