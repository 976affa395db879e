"""The evaluation report: one self-contained HTML file (images inlined) plus metrics.json."""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from genoface.core.files import atomic_directory, write_json
from genoface.evaluate import Examples, cmc
from genoface.report._page import SIMULATED_BANNER, page, png_tag
from genoface.report.audit import audit_section
from genoface.shape import render_faces_png

#: Per-vertex error heatmaps: colour map, and the size of each face panel (kept small: the
#: report inlines one image per test person and model).
ERROR_CMAP = "viridis"
_FACE_PANEL_INCHES, _FACE_DPI = 1.7, 72


def _ci(r: dict, key: str, fmt: str) -> str:
    lo_hi = r.get(f"{key}_ci")
    value = format(r[key], fmt)
    if lo_hi is None:
        return value
    return f"{value} <span class=chance>[{format(lo_hi[0], fmt)}, {format(lo_hi[1], fmt)}]</span>"


def metrics_table(results: list[dict]) -> str:
    """Models x settings at full SNP coverage, with 95% bootstrap intervals and chance levels."""
    rows = [r for r in results if r["snp_fraction"] == 1.0]
    if not rows:
        return ""
    first = rows[0]
    head = (
        "<tr><th>model</th><th>setting</th><th>face_error_mm</th><th>aligned</th><th>top1</th><th>R1</th>"
        "<th>R10</th><th>R20</th><th>select10</th><th>auc</th><th>eer</th></tr>"
        f"<tr class=chance><td>chance</td><td>gallery {first['gallery_size']}</td><td></td><td></td>"
        f"<td>{first['chance_top1']:.3f}</td><td>{first['chance_R1']:.3f}</td><td>{first['chance_R10']:.3f}</td>"
        f"<td>{first['chance_R20']:.3f}</td><td>{first.get('chance_select10', float('nan')):.3f}</td>"
        f"<td>{first['chance_auc']:.3f}</td><td>{first['chance_eer']:.3f}</td></tr>"
    )
    body = "".join(
        f"<tr><td>{html.escape(r['model'])}</td><td>{html.escape(r['setting'])}</td>"
        f"<td>{_ci(r, 'face_error_mm', '.2f')}</td><td>{r['face_error_mm_aligned']:.2f}</td>"
        f"<td>{_ci(r, 'top1', '.3f')}</td><td>{r['R1']:.3f}</td><td>{_ci(r, 'R10', '.3f')}</td><td>{r['R20']:.3f}</td>"
        f"<td>{_ci(r, 'select10', '.3f') if 'select10' in r else '-'}</td><td>{r['auc']:.3f}</td><td>{r['eer']:.3f}</td></tr>"
        for r in rows
    )
    return f"<table>{head}{body}</table>"


def region_table(results: list[dict]) -> str:
    rows = [r for r in results if r["snp_fraction"] == 1.0 and "region_error_mm" in r]
    if not rows:
        return "<p>No facial regions: the cohort's template carries no landmarks.</p>"
    names = list(rows[0]["region_error_mm"])
    head = "<tr><th>model</th><th>setting</th>" + "".join(f"<th>{html.escape(n)}</th>" for n in names) + "</tr>"
    body = "".join(
        f"<tr><td>{html.escape(r['model'])}</td><td>{html.escape(r['setting'])}</td>"
        + "".join(f"<td>{r['region_error_mm'][n]:.2f}</td>" for n in names)
        + "</tr>"
        for r in rows
    )
    return f"<table>{head}{body}</table>"


def cmc_figure(results: list[dict]) -> str:
    fig = Figure(figsize=(10, 4))
    for ax, setting in zip(fig.subplots(1, 2), ("dna", "dna+cov"), strict=True):
        n = None
        for r in results:
            if r["snp_fraction"] == 1.0 and r["setting"] == setting:
                n = r["gallery_size"]
                ax.plot(np.arange(1, n + 1) / n, cmc(np.asarray(r["ranks"]), n), label=r["model"])
        if n:
            ax.plot([0, 1], [0, 1], ":", color="grey", label="chance")
        ax.set(title=f"CMC, {setting}", xlabel="rank / gallery size", ylabel="share identified")
        ax.legend(fontsize=8)
    return png_tag(fig, "CMC curves")


def training_figure(training: dict[str, dict[str, list[float]]]) -> str:
    """Loss per epoch of every model that trains by epochs, one panel per loss."""
    curves = [(model, loss, values) for model, losses in training.items() for loss, values in losses.items() if values]
    if not curves:
        return ""
    fig = Figure(figsize=(4 * len(curves), 3.2))
    for ax, (model, loss, values) in zip(np.atleast_1d(fig.subplots(1, len(curves))), curves, strict=True):
        ax.plot(np.arange(1, len(values) + 1), values)
        ax.set(title=f"{model}: {loss}", xlabel="epoch")
    fig.tight_layout()
    return "<h3>Training</h3>" + png_tag(fig, "training loss curves")


def missing_snp_figure(results: list[dict]) -> str:
    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    for model in dict.fromkeys(r["model"] for r in results):
        for setting, style in (("dna", "-"), ("dna+cov", "--")):
            rs = sorted(
                (r for r in results if r["model"] == model and r["setting"] == setting), key=lambda r: r["snp_fraction"]
            )
            if not rs:
                continue
            x = [r["snp_fraction"] for r in rs]
            axes[0].plot(x, [r["face_error_mm"] for r in rs], style, marker="o", label=f"{model} {setting}")
            axes[1].plot(x, [r["R10"] for r in rs], style, marker="o", label=f"{model} {setting}")
    axes[0].set(title="face error vs SNPs observed", xlabel="share of SNPs observed", ylabel="face_error_mm")
    axes[1].set(title="R10 vs SNPs observed", xlabel="share of SNPs observed", ylabel="R10")
    axes[1].legend(fontsize=7)
    return png_tag(fig, "missing-SNP curves")


def error_scale(examples: Examples) -> tuple[float, float]:
    """The one colour scale (vmin, vmax) in mm of every error heatmap: from 0 to the 99th
    percentile of all the errors shown, rounded up to 0.5 mm (larger errors get the top colour)."""
    errors = [e.ravel() for by_setting in examples.errors.values() for e in by_setting.values()]
    flat = np.concatenate(errors) if errors else np.empty(0)
    if not flat.size or not np.isfinite(flat).any():
        return 0.0, 1.0
    return 0.0, max(0.5, float(np.ceil(np.nanpercentile(flat, 99) * 2) / 2))


def _person_title(sample_id: object, covariates: pd.Series | None) -> str:
    parts = []
    for column, fmt in (("population", "{}"), ("sex", "{}"), ("age", "{:.0f} y"), ("bmi", "BMI {:.0f}")):
        if covariates is not None and column in covariates.index and pd.notna(covariates[column]):
            parts.append(fmt.format(covariates[column]))
    return f"{sample_id}" + (f": {', '.join(parts)}" if parts else "")


#: Traits shown per example person: (recorded column, predicted column, probability / SD column).
_TRAIT_COLUMNS = (
    ("sex", "sex", "p_sex"),
    ("population", "population", None),
    ("eye_colour", "eye_colour", "p_eye_colour"),
    ("hair_colour", "hair_colour", "p_hair_colour"),
    ("skin_colour", "skin_colour", "p_skin_colour"),
    ("height_cm", "height_cm", "height_cm_sd"),
)


def _person_traits(examples: Examples, i: int) -> str:
    """A line of predicted traits (from the genome) beside the recorded ones."""
    if examples.traits is None:
        return ""
    predicted, recorded = examples.traits.iloc[i], examples.covariates.iloc[i]
    cells = []
    for true_col, col, extra in _TRAIT_COLUMNS:
        if col not in predicted.index:
            continue
        if col == "height_cm":
            guess = f"{predicted[col]:.0f} ± {1.96 * predicted[extra]:.0f} cm"
        elif col == "population":
            guess = f"{predicted[col]} ({predicted.get(f'p_{predicted[col]}', float('nan')):.2f})"
        else:
            guess = f"{predicted[col]} ({predicted[extra]:.2f})"
        truth = recorded.get(true_col)
        cells.append(
            f"{col.replace('_', ' ')}: {html.escape(guess)}"
            + (f" <span class=chance>[recorded {html.escape(str(truth))}]</span>" if pd.notna(truth) else "")
        )
    return "<p><small>Predicted from the genome: " + "; ".join(cells) + "</small></p>"


def traits_table(records: list[dict]) -> str:
    """Held-out trait figures: accuracy and log loss by basis, RMSE and 95%-interval coverage."""
    head = (
        "<tr><th>trait</th><th>basis</th><th>accuracy</th><th>log loss</th><th>RMSE</th><th>in 95% interval</th></tr>"
    )
    rows = []
    for r in records:
        cells = [
            r["trait"], r["basis"], f"{r['accuracy']:.3f}" if "accuracy" in r else "", f"{r['log_loss']:.3f}" if "log_loss" in r else "",
            f"{r['rmse']:.2f}" if "rmse" in r else "", f"{r['coverage95']:.3f}" if "coverage95" in r else "",
        ]  # fmt: skip
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def traits_section(metrics: dict) -> str:
    if "traits" not in metrics:
        return ""
    audit = metrics.get("audit")
    faces = ""
    if audit:
        faces = (
            f" In the audit, faces are scored by <code>{html.escape(str(audit.get('face_model')))}</code> (dna) and "
            f"<code>{html.escape(str(audit.get('baseline_face_model')))}</code> (demographics), without covariates."
        )
    return (
        "<h2>Traits</h2><p>Held-out test people. <code>dna</code>: from the trait SNPs (IrisPlex for eye colour, the "
        "HIrisPlex-S panel for hair and skin, GWAS-selected SNPs with sex and ancestry for height); "
        "<code>demographic</code>: from genetic sex and ancestry only; <code>marginal</code>: the training "
        "frequencies (no information). Lower log loss is better.</p>"
        + traits_table(metrics["traits"])
        + (audit_section(audit) + f"<p>{faces}</p>" if audit else "")
    )


def example_faces_section(examples: Examples) -> str:
    """For each example person, one image per model: the true face, then per setting the
    predicted face and its per-vertex error heatmap, on one shared colour scale."""
    if examples.n_people == 0 or not examples.predicted:
        return ""
    vmin, vmax = error_scale(examples)
    simulated = "simulated " if examples.simulated else ""
    out = [
        "<h3>Test people: true, predicted, error</h3>"
        f"<p>{examples.n_people} held-out {simulated}people drawn at random, all SNPs observed"
        + (" (simulated faces: no real person is shown)" if examples.simulated else "")
        + ". For each model: the true face, then in each setting the predicted face and its per-vertex "
        "error (distance to the true vertex, mm, as registered). Every heatmap shares one colour scale, "
        f"{vmin:.1f} to {vmax:.1f} mm; larger errors take the top colour.</p>"
    ]
    for i, sample_id in enumerate(examples.sample_ids):
        row = examples.covariates.iloc[i] if len(examples.covariates.columns) else None
        title = _person_title(sample_id, row)
        out.append(f"<h4>{html.escape(title)}</h4>" + _person_traits(examples, i) + "<div class=faces>")
        for model, by_setting in examples.predicted.items():
            meshes, values, titles, captions = [examples.true_faces[i]], [None], ["true"], []
            for setting, pred in by_setting.items():
                err = examples.errors[model][setting][i]
                meshes += [pred[i], pred[i]]
                values += [None, err]
                titles += [f"{setting}: predicted", f"{setting}: error"]
                captions.append(f"{err.mean():.2f} mm ({html.escape(setting)})")
            png = render_faces_png(
                meshes,
                examples.triangles,
                titles=titles,
                values=values,
                cmap=ERROR_CMAP,
                vmin=vmin,
                vmax=vmax,
                colorbar_label="error (mm)",
                panel_height=_FACE_PANEL_INCHES,
                dpi=_FACE_DPI,
                palette=True,
            )
            alt = f"{title}, {model}: true face, predicted faces and error heatmaps ({simulated}faces)"
            out.append(
                f'<figure class="face-panel" data-person="{html.escape(str(sample_id))}" '
                f'data-model="{html.escape(model)}" data-vmin="{vmin:g}" data-vmax="{vmax:g}">'
                f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
                f"<figcaption><b>{html.escape(model)}</b>: mean error {', '.join(captions)}</figcaption></figure>"
            )
        out.append("</div>")
    return "".join(out)


def evaluation_sections(metrics: dict, examples: Examples | None = None) -> str:
    """The report body for one evaluation (no page wrapper); with ``examples``, their face panels."""
    c, results = metrics["cohort"], metrics["results"]
    split = f"trained on {c['n_train']:,} people, tested on {c['n_test']:,} held-out people " + (
        f"of test cohort {html.escape(str(c['test_cohort']))}"
        if c.get("test_cohort")
        else f"(seeded split, seed {c['seed']})"
    )
    return (
        (SIMULATED_BANNER if c.get("simulated") else "")
        + f"<h2>Evaluation</h2><p>Cohort {html.escape(str(c['name']))}: {split}; {c['n_variants']:,} SNPs, "
        f"{c['n_vertices']:,} vertices. <code>dna</code>: the genome only; <code>dna+cov</code>: age, sex and BMI given. "
        "Intervals are 95% bootstrap intervals over test people; the grey row gives chance levels.</p>"
        + metrics_table(results)
        + "<h3>Cumulative match characteristic</h3>"
        + cmc_figure(results)
        + "<h3>Missing SNPs</h3><p>Genotype calls masked at random at prediction time.</p>"
        + missing_snp_figure(results)
        + "<h3>Error by facial region (mm)</h3>"
        + region_table(results)
        + training_figure(metrics.get("training", {}))
        + traits_section(metrics)
        + (example_faces_section(examples) if examples is not None else "")
    )


def write_evaluation_report(
    out: str | os.PathLike, metrics: dict, *, examples: Examples | None = None, overwrite: bool = False
) -> Path:
    """Write ``out/metrics.json`` (``metrics`` only) and ``out/report.html`` (with the face panels
    of ``examples`` when given) atomically; returns the HTML path."""
    with atomic_directory(out, overwrite=overwrite) as tmp:
        write_json(tmp / "metrics.json", metrics)
        (tmp / "report.html").write_text(
            page("genoface evaluation", "<h1>genoface evaluation</h1>" + evaluation_sections(metrics, examples))
        )
    return Path(out) / "report.html"
