"""The registration report: one self-contained page with every scan's quality figures and, for the
scans shown, the registration drawn over its scan in a heatmap of distance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from genoface.report._page import png_data_uri, render

#: Scans shown with their picture (failed first, then the farthest fits); the table lists all.
SHOWN_SCANS = 60


def write_registration_report(
    path: str | Path,
    records: list[dict[str, Any]],
    pictures: dict[str, Path],
    *,
    settings: dict[str, Any],
    simulated: bool = False,
) -> Path:
    """Write the page to ``path`` (through a temporary file); ``pictures`` maps sample ids to
    their overlay PNGs; ``settings`` (template, units, options) are printed as given."""
    from genoface.core.files import atomic_write_bytes

    order = sorted(records, key=lambda r: (not r["failed"], -r["mean_mm"]))
    shown = []
    for r in order[:SHOWN_SCANS]:
        png = pictures.get(r["sample_id"])
        if png is not None and Path(png).is_file():
            shown.append({**r, "picture": png_data_uri(Path(png).read_bytes())})
    means = np.array([r["mean_mm"] for r in records if not r["failed"]])
    view = {
        "records": order,
        "shown": shown,
        "n_failed": sum(r["failed"] for r in records),
        "median_mean_mm": float(np.median(means)) if len(means) else float("nan"),
        "settings": settings,
        "simulated": simulated,
    }
    atomic_write_bytes(path, render("registration.html", **view).encode("utf-8"))
    return Path(path)
