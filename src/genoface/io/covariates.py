"""The covariate table (covariates.tsv): one row per person, indexed by sample id.

Required columns: sample_id, sex (F/M), age (years), bmi (kg/m²). Known optional columns:
population, eye_colour, hair_colour, skin_colour, height_cm. Other columns are kept (numeric
when every value parses as a number). Missing values are empty or ``NA``; they are allowed in
age, bmi and the optional columns, not in sample_id or sex.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from genoface.core.errors import GenofaceError
from genoface.core.files import atomic_write_bytes
from genoface.core.schema import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, SAMPLE_ID, SEXES

#: Numeric columns with their unit and allowed range (inclusive lower, inclusive upper).
NUMERIC_COLUMNS = {"age": ("years", 0.0, 150.0), "bmi": ("kg/m²", 1.0, 200.0), "height_cm": ("cm", 1.0, 300.0)}
#: Strings read as missing.
NA_VALUES = ("", "NA", "NaN", "nan", "N/A", ".")

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _line_of(text: str, offset: int) -> int:
    """1-based line number of character ``offset`` of ``text`` (lines as :data:`_LINE_BREAK` cuts them)."""
    return len(_LINE_BREAK.findall(text, 0, offset)) + 1


def read_covariates(
    path: str | os.PathLike, *, required: tuple[str, ...] = REQUIRED_COLUMNS, known_only: bool = False
) -> pd.DataFrame:
    """Read and validate a covariate TSV; the result is indexed by ``sample_id`` (str).

    ``required``: columns besides sample_id that must be present; ``known_only``: refuse columns
    other than the required and known optional ones (a candidate table, where a misspelt trait
    column must not be silently ignored). Errors name the file, the line (the header is line 1)
    and the fix.
    """
    path = Path(path)
    if not path.exists():
        raise GenofaceError(f"{path}: no such covariate file; write a TSV with columns sample_id, sex, age, bmi")
    if not path.is_file():
        raise GenofaceError(f"{path}: is a folder, not a covariate file; give the covariates.tsv file")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise GenofaceError(f"{path}: cannot be read ({e.strerror or e}); check the file's permissions") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise GenofaceError(f"{path}: UTF-16 text; save the table as UTF-8 TSV")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = _line_of(data[: e.start].decode("latin-1"), e.start)
        raise GenofaceError(
            f"{path}: line {line}: not UTF-8 text (byte {data[e.start]:#04x}); save the table as UTF-8 TSV"
        ) from None
    nul = text.find("\0")
    if nul >= 0:
        raise GenofaceError(
            f"{path}: line {_line_of(text, nul)}: a NUL byte; this is not a text table, save it as UTF-8 TSV"
        )
    # Split by hand rather than with pandas so that every row keeps its true line number and a
    # row with too few or too many fields is refused instead of padded or shifted. Lines end in
    # LF, CRLF or CR only (str.splitlines would also break at form feeds and Unicode separators
    # inside a field, and shift every line number after them).
    rows = [(i, line.split("\t")) for i, line in enumerate(_LINE_BREAK.split(text), start=1) if line.strip()]
    if not rows:
        raise GenofaceError(
            f"{path}: empty file; write a header line (sample_id, sex, age, bmi) and one row per person"
        )
    (header_line, header), body = rows[0], rows[1:]
    if len(header) == 1 and (len(header[0].split()) > 1 or header[0].count(",") > 1):
        raise GenofaceError(
            f"{path}: line {header_line}: the header {header[0].strip()[:60]!r} is not tab-separated; "
            "separate the columns (sample_id, sex, age, bmi, ...) by tabs"
        )
    for line_no, fields in body:
        if len(fields) != len(header):
            raise GenofaceError(
                f"{path}: line {line_no} has {len(fields)} tab-separated fields but the header has {len(header)}; "
                "fill empty cells with NA and separate columns by single tabs"
            )
    raw = pd.DataFrame([f for _, f in body], columns=[h.strip() for h in header], dtype=object)
    raw.index = pd.Index([n for n, _ in body])  # line numbers
    return validate_covariates(raw, source=str(path), required=required, known_only=known_only, header_line=header_line)


def validate_covariates(
    raw: pd.DataFrame,
    *,
    source: str = "covariates",
    required: tuple[str, ...] = REQUIRED_COLUMNS,
    known_only: bool = False,
    header_line: int = 1,
) -> pd.DataFrame:
    """Validate a table of strings (sample_id a column; the index holds each row's line number,
    ``header_line`` that of the header)."""
    raw = raw.rename(columns=lambda c: str(c).strip()).astype(object).map(lambda v: "" if v is None else str(v).strip())
    lines = np.asarray(raw.index)
    _check_columns(raw, source, required, known_only, header_line)
    ids = _sample_ids(raw, lines, source)
    out = pd.DataFrame(index=pd.Index(ids.to_numpy(dtype=str), name=SAMPLE_ID))
    if "sex" in raw.columns:
        out["sex"] = _sex(raw, lines, ids, source)
    for col in raw.columns:
        if col in (SAMPLE_ID, "sex"):
            continue
        values = raw[col].str.strip()
        if col in NUMERIC_COLUMNS:
            out[col] = _numeric(values, col, lines, ids, source)
        elif col in OPTIONAL_COLUMNS:
            out[col] = _text(values)
        else:
            out[col] = _extra(values)
    return out


def _check_columns(
    raw: pd.DataFrame, source: str, required: tuple[str, ...], known_only: bool, header_line: int
) -> None:
    """Refuse a header lacking a required column, naming an unknown one (``known_only``) or one
    twice, and a table without rows."""
    missing = [c for c in (SAMPLE_ID, *required) if c not in raw.columns]
    if missing:
        raise GenofaceError(
            f"{source}: line {header_line} lacks the column(s) {', '.join(missing)}; the header must name "
            f"{', '.join((SAMPLE_ID, *required))} (tab-separated)"
        )
    if known_only:
        unknown = [c for c in raw.columns if c not in (SAMPLE_ID, *REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)]
        if unknown:
            raise GenofaceError(
                f"{source}: line {header_line} names unknown column(s) {', '.join(map(repr, unknown))}; known columns are "
                f"{', '.join((SAMPLE_ID, *REQUIRED_COLUMNS, *OPTIONAL_COLUMNS))}"
            )
    dup_cols = raw.columns[raw.columns.duplicated()]
    if len(dup_cols):
        raise GenofaceError(f"{source}: line {header_line} names column {dup_cols[0]!r} twice; rename one")
    if raw.empty:
        raise GenofaceError(f"{source}: no rows below the header; add one row per person")


def _sample_ids(raw: pd.DataFrame, lines: np.ndarray, source: str) -> pd.Series:
    """The sample_id column; refused where one is empty or repeated."""
    ids = raw[SAMPLE_ID].str.strip()
    empty = ids == ""
    if empty.any():
        raise GenofaceError(
            f"{source}: line {lines[np.argmax(empty.to_numpy())]}: empty sample_id; every row needs one"
        )
    dup = ids.duplicated(keep=False).to_numpy()
    if dup.any():
        first = ids.iloc[int(np.argmax(dup))]
        at = lines[(ids == first).to_numpy()]
        raise GenofaceError(
            f"{source}: sample_id {first!r} appears on lines {', '.join(map(str, at))}; sample ids must be unique"
        )
    return ids


def _sex(raw: pd.DataFrame, lines: np.ndarray, ids: pd.Series, source: str) -> np.ndarray:
    """The sex column as "F" / "M"; anything else refused (missing included)."""
    sex = raw["sex"].str.strip().str.upper()
    bad = ~sex.isin(SEXES).to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise GenofaceError(
            f"{source}: line {lines[i]}: sex is {raw['sex'].iloc[i]!r} for {ids.iloc[i]}; write F or M (missing sex is not allowed)"
        )
    return sex.to_numpy(dtype=str)


def write_covariates(path: str | os.PathLike, df: pd.DataFrame) -> Path:
    """Write ``df`` (indexed by sample id) as a TSV that :func:`read_covariates` reads back.

    Columns come in the order sample_id, sex, age, bmi, known optional columns, then the rest;
    missing values are written as ``NA``; floats keep full precision.
    """
    path = Path(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise GenofaceError(f"covariates for {path} lack the column(s) {', '.join(missing)}")
    known = [*REQUIRED_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in df.columns)]
    order = known + [c for c in df.columns if c not in known]
    table = df[order].copy()
    table.index = pd.Index(np.asarray(df.index, dtype=str), name=SAMPLE_ID)
    buf = io.StringIO()
    table.to_csv(buf, sep="\t", na_rep="NA", lineterminator="\n")
    atomic_write_bytes(path, buf.getvalue().encode("utf-8"))
    return path


# ---- column parsers -------------------------------------------------------------------------------


def _numeric(values: pd.Series, col: str, lines: np.ndarray, ids: pd.Series, source: str) -> np.ndarray:
    na = values.isin(NA_VALUES).to_numpy()
    num = pd.to_numeric(values.where(~na), errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(num) & ~na
    unit, lo, hi = NUMERIC_COLUMNS[col]
    if bad.any():
        i = int(np.argmax(bad))
        raise GenofaceError(
            f"{source}: line {lines[i]}: {col} is {values.iloc[i]!r} for {ids.iloc[i]}; write a number in {unit} (or NA if unknown)"
        )
    out_of_range = ~np.isnan(num) & ((num < lo) | (num > hi))
    if out_of_range.any():
        i = int(np.argmax(out_of_range))
        raise GenofaceError(
            f"{source}: line {lines[i]}: {col} is {values.iloc[i]} for {ids.iloc[i]}; it must lie between {lo:g} and {hi:g} {unit}"
        )
    return num


def _text(values: pd.Series):
    """Text with missing values as NaN, in pandas' ``str`` dtype (as pandas makes from str arrays)."""
    return pd.array(values.where(~values.isin(NA_VALUES)).to_numpy(dtype=object), dtype="str")


def _extra(values: pd.Series):
    """An unknown column: numbers where every present value is one, else text."""
    na = values.isin(NA_VALUES)
    num = pd.to_numeric(values.where(~na), errors="coerce")
    if (num.notna() | na).all() and (~na).any():
        return num.to_numpy(dtype=float)
    return _text(values)
