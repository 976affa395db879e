"""The sample-size plan's outputs: plan.tsv (one row per training size, model and setting),
plan.json (the same, with the inputs of Daetwyler's expectation) and plan.html (the learning
curves beside that expectation, one self-contained page); and its terminal table."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator
from rich.console import Console
from rich.table import Table

from genoface.core.files import write_json
from genoface.report._page import figure_data_uri, render

#: Columns of plan.tsv: an interval is two columns, ``<metric>_lo`` and ``<metric>_hi``.
INTERVAL_METRICS = ("face_error_mm", "top1", "R10", "genetic_share", "genome_variance_mm2")
TSV_COLUMNS = (
    "n",
    "model",
    "setting",
    *(f"{m}{suffix}" for m in INTERVAL_METRICS for suffix in ("", "_lo", "_hi")),
    "expected_variance_mm2",
)
_PANELS = (("face_error_mm", "face error (mm)"), ("top1", "top1"), ("R10", "R10"), ("genetic_share", "genetic share"))
_SETTING_STYLES = {"dna+cov": "-", "dna": "--"}


def plan_table(plan: dict) -> pd.DataFrame:
    """The rows of ``plan["results"]`` with the columns of plan.tsv (empty where undefined)."""
    rows = []
    for r in plan["results"]:
        row = {k: r[k] for k in ("n", "model", "setting", "expected_variance_mm2")}
        for metric in INTERVAL_METRICS:
            ci = r.get(f"{metric}_ci") or (None, None)
            row[metric], row[f"{metric}_lo"], row[f"{metric}_hi"] = r.get(metric), ci[0], ci[1]
        rows.append(row)
    return pd.DataFrame(rows, columns=list(TSV_COLUMNS))


def write_plan_files(folder: str | Path, plan: dict) -> Path:
    """Write plan.tsv, plan.json and plan.html into the existing ``folder`` (the caller's
    temporary output folder, renamed into place once everything is written); returns the page."""
    folder = Path(folder)
    buf = io.StringIO()
    plan_table(plan).to_csv(buf, sep="\t", index=False, float_format="%.6g", na_rep="")
    (folder / "plan.tsv").write_text(buf.getvalue(), encoding="utf-8")
    write_json(folder / "plan.json", plan)
    page = folder / "plan.html"
    page.write_text(render("plan.html", **plan_view(plan)), encoding="utf-8")
    return page


def plan_view(plan: dict) -> dict:
    """What templates/plan.html shows of ``plan``."""
    rows = [r for r in plan["results"] if r["setting"] == "dna+cov"]
    daetwyler = plan["daetwyler"]
    return {
        "plan": plan,
        "cohort": plan["cohort"],
        "rows": rows,
        "curves": figure_data_uri(learning_curve_figure(plan["results"])),
        "variance": figure_data_uri(genome_variance_figure(rows, daetwyler)),
        "daetwyler": daetwyler,
        "oracle": "oracle" in plan["models"],
    }


def _curve(rows: list[dict], model: str, setting: str, metric: str) -> tuple[np.ndarray, ...]:
    """n, value, lower and upper bound of ``metric`` along the training sizes (NaN where undefined)."""
    picked = [r for r in rows if r["model"] == model and r["setting"] == setting]
    n = np.array([r["n"] for r in picked], dtype=float)
    value = np.array([np.nan if r.get(metric) is None else r[metric] for r in picked], dtype=float)
    ci = np.array([r.get(f"{metric}_ci") or (np.nan, np.nan) for r in picked], dtype=float).reshape(-1, 2)
    return n, value, ci[:, 0], ci[:, 1]


def learning_curve_figure(results: list[dict]) -> Figure:
    """Face error, top1 and R10 (both settings) and the genetic share (dna+cov) against the
    training size, with 95% bootstrap bands; the oracle, which learns nothing, as a level."""
    fig = Figure(figsize=(10, 7.5))
    models = list(dict.fromkeys(r["model"] for r in results))
    for ax, (metric, label) in zip(fig.subplots(2, 2).ravel(), _PANELS, strict=True):
        settings = ("dna+cov",) if metric == "genetic_share" else ("dna+cov", "dna")
        for i, model in enumerate(models):
            for setting in settings:
                n, value, lo, hi = _curve(results, model, setting, metric)
                if not np.isfinite(value).any():
                    continue
                name = model if setting == "dna+cov" else None  # one legend entry per model
                ax.plot(n, value, _SETTING_STYLES[setting], marker="o", ms=3, color=f"C{i}", label=name)
                ax.fill_between(n, lo, hi, color=f"C{i}", alpha=0.12, linewidth=0)
        ax.set(ylabel=label, title=label)
        _size_axis(ax, sorted({r["n"] for r in results}))
    axes = fig.axes
    axes[0].legend(fontsize=8, title="solid: dna+cov, dashed: dna", title_fontsize=8)
    fig.tight_layout()
    return fig


def genome_variance_figure(rows: list[dict], daetwyler: dict | None) -> Figure:
    """Face variance each model explains from the genome beyond the demographic baseline
    (dna+cov, mm²) against the training size, beside Daetwyler's expectation for a linear
    predictor and the whole genetic variance (what the true map explains) where known."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    models = list(dict.fromkeys(r["model"] for r in rows))
    for i, model in enumerate(models):
        if model == "demographic":  # zero by definition
            continue
        n, value, lo, hi = _curve(rows, model, "dna+cov", "genome_variance_mm2")
        ax.errorbar(n, value, yerr=[value - lo, hi - value], marker="o", ms=4, capsize=3, color=f"C{i}", label=model)
    ax.axhline(0, color="grey", lw=0.5)
    ylabel = "mm² (summed over coordinates)"
    if daetwyler is not None:
        ylabel = _draw_expectation(ax, rows, daetwyler) or ylabel
    ax.set(ylabel=ylabel, title="face variance explained from the genome, beyond demographics (dna+cov)")
    _size_axis(ax, sorted({r["n"] for r in rows}))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _draw_expectation(ax, rows: list[dict], daetwyler: dict) -> str | None:
    """Daetwyler's curve and the whole genetic variance; a symmetric log scale where the
    expectation is dwarfed by what is measured (a polygenic face's few mm² beside a model that
    loses thousands), with its axis label (None on a linear scale)."""
    curve = daetwyler["curve"]
    ax.plot(
        [p["n"] for p in curve],
        [p["expected_variance_mm2"] for p in curve],
        "k-",
        label="linear expectation (Daetwyler)",
    )
    ax.axhline(daetwyler["genetic_variance_mm2"], color="grey", ls=":", label="all genetic variance (the truth)")
    expected = [p["expected_variance_mm2"] for p in curve if p["expected_variance_mm2"] > 0]
    measured = [abs(v) for r in rows for v in (r["genome_variance_mm2"], *(r["genome_variance_mm2_ci"] or ()))]
    if not expected or max(expected) >= 0.05 * max(measured, default=0.0):
        return None
    ax.set_yscale("symlog", linthresh=min(expected))  # linear up to the smallest expectation drawn
    return "mm², symmetric log scale (linear near 0)"


def _size_axis(ax, sizes: list[int]) -> None:
    """A log axis of training people, ticked at the sizes trained (not at powers of ten)."""
    ax.set(xscale="log", xlabel="training people")
    ax.set_xticks(sizes, [f"{n:,}" for n in sizes])
    ax.xaxis.set_minor_locator(NullLocator())


def print_plan(console: Console, plan: dict) -> None:
    """The learning curves on the terminal: dna+cov, one row per training size and model."""
    has_truth = plan["daetwyler"] is not None
    title = "Learning curves: held-out test people, dna+cov" + (" (simulated)" if has_truth else "")
    table = Table(title=title)
    columns = ["n", "model", "error", "top1", "R10", "share", "genome"]
    columns += ["expect", "ratio"] if has_truth else []
    for col in columns:
        table.add_column(col, justify="left" if col == "model" else "right", no_wrap=col in ("n", "model"))
    for r in (r for r in plan["results"] if r["setting"] == "dna+cov"):
        cells = [
            f"{r['n']:,}",
            r["model"],
            f"{r['face_error_mm']:.3f}",
            f"{r['top1']:.3f}",
            f"{r['R10']:.3f}",
            _number(r["genetic_share"], ".2f"),
            _mm2(r["genome_variance_mm2"]),
        ]
        if has_truth:
            expected = r["expected_variance_mm2"]
            ratio = r["genome_variance_mm2"] / expected if expected else None
            learnt = r["model"] not in ("demographic", "oracle")
            cells += [_mm2(expected), _number(ratio, ".0%") if learnt else ""]
        table.add_row(*cells)
    console.print(table)
    console.print(
        "error: face_error_mm; share: genetic share; genome: face variance explained from the genome beyond "
        "demographics (mm²)" + ("; expect: the linear expectation (mm²); ratio: genome / expect" if has_truth else ""),
        highlight=False,
    )
    if has_truth:
        d = plan["daetwyler"]
        console.print(
            f"linear expectation: Daetwyler's {d['formula']} with M = {d['M']:,} causal SNPs, over "
            f"{d['directions']} genetic directions ({d['genetic_variance_mm2']:,.0f} mm² in all)",
            highlight=False,
        )
    else:
        console.print("No linear expectation: the cohort has no simulation truth (its heritability is unknown).")


def _mm2(value: float) -> str:
    """mm² to read at a glance: whole numbers from 100 on."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"


def _number(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)
