"""The evaluation report: one self-contained HTML file (images inlined) plus metrics.json."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from genoface.core.files import atomic_directory, write_json
from genoface.evaluate import Examples
from genoface.report._page import (
    base64_array,
    face_viewer_script,
    figure_data_uri,
    json_for_script,
    png_data_uri,
    render,
    render_macro,
)
from genoface.report.audit import audit_view
from genoface.report.figures import cmc_figure, missing_snp_figure, training_figure
from genoface.shape import render_faces_png

#: Per-vertex error heatmaps: colour map, and the size of each face panel (kept small: the
#: report inlines one image per test person and model).
ERROR_CMAP = "magma"  # the three.js viewers' error map too (web/src/format.js, sequentialRGB)
_FACE_PANEL_INCHES, _FACE_DPI = 1.7, 72


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


def _person_traits(examples: Examples, i: int) -> list[dict] | None:
    """The traits of example person ``i`` predicted from the genome, each beside the recorded one
    (None when recorded is missing); None without trait predictions."""
    if examples.traits is None:
        return None
    predicted, recorded = examples.traits.iloc[i], examples.covariates.iloc[i]
    traits = []
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
        traits.append(
            {"name": col.replace("_", " "), "guess": guess, "recorded": str(truth) if pd.notna(truth) else None}
        )
    return traits


def _face_panel(examples: Examples, i: int, model: str, title: str, scale: tuple[float, float]) -> dict:
    """Person ``i`` under ``model``: the true face, then per setting the predicted face and its
    per-vertex error heatmap on the colour scale ``scale``, as one inline image."""
    meshes, values, titles, captions = [examples.true_faces[i]], [None], ["true"], []
    for setting, pred in examples.predicted[model].items():
        err = examples.errors[model][setting][i]
        meshes += [pred[i], pred[i]]
        values += [None, err]
        titles += [f"{setting}: predicted", f"{setting}: error"]
        captions.append(f"{err.mean():.2f} mm ({setting})")
    png = render_faces_png(
        meshes,
        examples.triangles,
        titles=titles,
        values=values,
        cmap=ERROR_CMAP,
        vmin=scale[0],
        vmax=scale[1],
        colorbar_label="error (mm)",
        panel_height=_FACE_PANEL_INCHES,
        dpi=_FACE_DPI,
        palette=True,
    )
    simulated = "simulated " if examples.simulated else ""
    alt = f"{title}, {model}: true face, predicted faces and error heatmaps ({simulated}faces)"
    return {"model": model, "src": png_data_uri(png), "alt": alt, "captions": captions}


def _compare_payload(examples: Examples, i: int, scale: tuple[float, float]) -> str:
    """Person ``i``'s meshes for the report's interactive viewers (the face_viewer.js bundle's
    "face-compare" block): the true face, and each model and setting's prediction and error."""
    predictions = [
        {
            "model": model,
            "setting": setting,
            "vertices": base64_array(pred[i], "<f4"),
            "error_mm": base64_array(examples.errors[model][setting][i], "<f4"),
        }
        for model, by_setting in examples.predicted.items()
        for setting, pred in by_setting.items()
    ]
    payload = {
        "triangles": base64_array(examples.triangles, "<u4"),
        "n_vertices": int(examples.true_faces.shape[1]),
        "true": base64_array(examples.true_faces[i], "<f4"),
        "scale": [float(scale[0]), float(scale[1])],
        "units": "mm",
        "predictions": predictions,
    }
    return json_for_script(payload)


def _example_faces_view(examples: Examples) -> dict | None:
    """What the face panels (templates/example_faces.html) show; None without people or models."""
    if examples.n_people == 0 or not examples.predicted:
        return None
    scale = error_scale(examples)
    people = []
    for i, sample_id in enumerate(examples.sample_ids):
        row = examples.covariates.iloc[i] if len(examples.covariates.columns) else None
        title = _person_title(sample_id, row)
        panels = [_face_panel(examples, i, model, title, scale) for model in examples.predicted]
        people.append(
            {
                "id": str(sample_id),
                "title": title,
                "traits": _person_traits(examples, i),
                "panels": panels,
                "meshes": _compare_payload(examples, i, scale),
            }
        )
    return {
        "viewer_js": face_viewer_script(),
        "n_people": examples.n_people,
        "simulated": examples.simulated,
        "vmin": scale[0],
        "vmax": scale[1],
        "people": people,
    }


def evaluation_view(metrics: dict, examples: Examples | None = None) -> dict:
    """What the evaluation sections (templates/evaluation_sections.html) show of ``metrics`` and,
    when given, the face panels of ``examples``."""
    results = metrics["results"]
    full_coverage = [r for r in results if r["snp_fraction"] == 1.0]
    training = training_figure(metrics.get("training", {}))
    traits, audit = metrics.get("traits"), metrics.get("audit")
    return {
        "cohort": metrics["cohort"],
        "full_coverage": full_coverage,
        "comparisons": metrics.get("comparisons", []),
        "shares": metrics.get("shares", []),
        "regions": [r for r in full_coverage if "region_error_mm" in r],
        "cmc": figure_data_uri(cmc_figure(results)),
        "missing_snps": figure_data_uri(missing_snp_figure(results)),
        "training": None if training is None else figure_data_uri(training),
        "traits": traits,
        "audit": audit_view(audit) if traits is not None and audit else None,
        "faces": None if examples is None else _example_faces_view(examples),
    }


def evaluation_sections(metrics: dict, examples: Examples | None = None) -> str:
    """The report body for one evaluation (no page wrapper); with ``examples``, their face panels."""
    return render_macro("evaluation_sections.html", "evaluation_sections", evaluation_view(metrics, examples))


def write_evaluation_report(
    out: str | os.PathLike, metrics: dict, *, examples: Examples | None = None, overwrite: bool = False
) -> Path:
    """Write ``out/metrics.json`` (``metrics`` only) and ``out/report.html`` (with the face panels
    of ``examples`` when given) atomically; returns the HTML path."""
    with atomic_directory(out, overwrite=overwrite) as tmp:
        write_json(tmp / "metrics.json", metrics)
        (tmp / "report.html").write_text(
            render("evaluation.html", view=evaluation_view(metrics, examples)), encoding="utf-8"
        )
    return Path(out) / "report.html"
