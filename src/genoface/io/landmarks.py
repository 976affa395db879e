"""3D landmark files: named points, or the 68 points of the iBUG scheme, and template mappings.

A scan's landmark file is plain text, one point per line, comments after ``#``:

- **named points**: ``name x y z`` (separated by spaces, tabs or commas; a header line
  ``name x y z`` is allowed), names from :data:`genoface.shape.LANDMARK_NAMES`;
- **iBUG 68**: 68 lines ``x y z`` in the scheme's order, optionally wrapped as a ``.pts`` file
  (``version: 1``, ``n_points: 68``, ``{`` ... ``}``).

Both read into one dictionary keyed by landmark name: an iBUG point is named by our name where
it has one (:data:`IBUG_LANDMARK_NAMES`) and ``ibug_<number>`` otherwise, so a template mapped
to the iBUG scheme (the Surrey Face Model's ``ibug_to_sfm.txt``) uses every point it has.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path

import numpy as np

from genoface.core.errors import GenofaceError

#: iBUG 68 point numbers (1-based) of the named landmarks; iBUG "right" is the subject's right.
IBUG_LANDMARK_NAMES: dict[int, str] = {
    28: "nasion",
    31: "pronasale",
    34: "subnasale",
    32: "alare_r",
    36: "alare_l",
    37: "exocanthion_r",
    40: "endocanthion_r",
    43: "endocanthion_l",
    46: "exocanthion_l",
    49: "cheilion_r",
    55: "cheilion_l",
    52: "labiale_superius",
    58: "labiale_inferius",
    9: "gnathion",
    20: "brow_r",
    25: "brow_l",
}

#: The points a named landmark file must hold at least (the pose needs them).
REQUIRED_LANDMARKS: tuple[str, ...] = ("pronasale", "endocanthion_l", "endocanthion_r", "cheilion_l", "cheilion_r")

_N_IBUG = 68
_SPLIT = re.compile(r"[\s,;]+")


def ibug_name(number: int) -> str:
    """Our name of iBUG point ``number`` (1-68): a landmark name, else ``ibug_<number>``."""
    return IBUG_LANDMARK_NAMES.get(number, f"ibug_{number}")


def read_landmarks(path: str | os.PathLike, known: set[str] | None = None) -> dict[str, np.ndarray]:
    """Landmark positions by name from a named-point or iBUG-68 file (see the module docstring).

    ``known`` lists the names a named file may use (None: any). Raises a one-line error naming
    the file and line for anything unreadable, unknown names, repeated names, and named files
    that lack one of :data:`REQUIRED_LANDMARKS`.
    """
    path = Path(path)
    if not path.is_file():
        raise GenofaceError(f"{path}: landmark file does not exist")
    rows = _rows(path)
    if rows and all(len(fields) == 3 for _, fields in rows):
        if len(rows) != _N_IBUG:
            raise GenofaceError(
                f"{path}: {len(rows)} unnamed points; an iBUG file has {_N_IBUG} (x y z per line), "
                "a named file 'name x y z' per line"
            )
        return {ibug_name(i + 1): _point(path, line, fields) for i, (line, fields) in enumerate(rows)}
    points: dict[str, np.ndarray] = {}
    for line, fields in rows:
        if len(fields) != 4:
            raise GenofaceError(f"{path}, line {line}: expected 'name x y z', got {len(fields)} fields")
        name = fields[0]
        if known is not None and name not in known:
            raise GenofaceError(
                f"{path}, line {line}: unknown landmark {name!r}; use one of {', '.join(sorted(known))}"
            )
        if name in points:
            raise GenofaceError(f"{path}, line {line}: landmark {name!r} given twice")
        points[name] = _point(path, line, fields[1:])
    missing = [n for n in REQUIRED_LANDMARKS if n not in points]
    if missing:
        raise GenofaceError(f"{path}: lacks the landmarks {', '.join(missing)}; the pose needs at least these five")
    return points


def read_template_landmarks(path: str | os.PathLike) -> dict[str, int]:
    """Template vertex id of each landmark name, from JSON (name: id, or a cohort.json with
    ``template_landmarks``) or an iBUG mapping in TOML (``[landmark_mappings]`` number = id)."""
    path = Path(path)
    if not path.is_file():
        raise GenofaceError(f"{path}: template landmark file does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
            data = data.get("template_landmarks", data) if isinstance(data, dict) else data
            mapping = {str(k): int(v) for k, v in data.items()}
        else:
            table = tomllib.loads(text)["landmark_mappings"]
            mapping = {ibug_name(int(k)): int(v) for k, v in table.items()}
    except (ValueError, KeyError, TypeError, AttributeError, tomllib.TOMLDecodeError) as e:
        raise GenofaceError(
            f"{path}: not a template landmark map ({type(e).__name__}: {e}); give JSON {{name: vertex id}} "
            "or TOML [landmark_mappings] as in ibug_to_sfm.txt"
        ) from None
    return mapping


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, fields) of the data lines: comments, blanks, headers and .pts wrapping dropped."""
    rows = []
    for number, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        text = raw.split("#", 1)[0].strip()
        if not text or text in "{}" or re.match(r"^(version|n_points)\s*:", text):
            continue
        fields = [f for f in _SPLIT.split(text) if f]
        if not rows and [f.lower() for f in fields[-3:]] == ["x", "y", "z"]:
            continue  # a header
        rows.append((number, fields))
    return rows


def _point(path: Path, line: int, fields: list[str]) -> np.ndarray:
    try:
        point = np.array([float(f) for f in fields], dtype=np.float64)
    except ValueError:
        raise GenofaceError(f"{path}, line {line}: coordinates must be numbers, got {' '.join(fields)!r}") from None
    if not np.isfinite(point).all():
        raise GenofaceError(f"{path}, line {line}: coordinates must be finite numbers")
    return point
