"""Covariate TSV: round trips, missing values, and errors that name the line and the fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genoface.core.errors import GenofaceError
from genoface.core.schema import OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from genoface.io.covariates import read_covariates, write_covariates

HEAD = "sample_id\tsex\tage\tbmi\n"


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sex": ["F", "M", "F"],
            "age": [30.5, np.nan, 1 / 3],
            "bmi": [22.1, 25.0, np.nan],
            "population": ["CEU", None, "YRI"],
            "eye_colour": ["blue", "brown", "brown"],
            "height_cm": [170.1, 180.0, np.nan],
            "score": [1.5, 2.0, 3.0],  # an extra numeric column
            "note": ["a", "b c", None],  # an extra text column
        },
        index=pd.Index(["s1", "s2", "s3"], name="sample_id"),
    )


def _read(tmp_path, text: str) -> pd.DataFrame:
    p = tmp_path / "cov.tsv"
    p.write_text(text)
    return read_covariates(p)


def test_round_trip_keeps_values_types_and_order(tmp_path):
    df = _table()
    path = write_covariates(tmp_path / "cov.tsv", df)
    text = path.read_text()
    assert text.splitlines()[0].split("\t") == [
        "sample_id",
        "sex",
        "age",
        "bmi",
        "population",
        "eye_colour",
        "height_cm",
        "score",
        "note",
    ]
    assert "\tNA\t" in text
    got = read_covariates(path)
    pd.testing.assert_frame_equal(got, df)
    assert got["age"].iloc[2] == 1 / 3  # full float precision
    assert list(got.index) == ["s1", "s2", "s3"]


def test_missing_values_and_lenient_spelling(tmp_path):
    got = _read(tmp_path, HEAD.replace("\n", "\tpopulation\n") + "a\tf\tNA\t\tCEU\nb\tM\t40\t22.5\t\n")
    assert list(got["sex"]) == ["F", "M"]  # lower case accepted, stored upper case
    assert np.isnan(got.loc["a", "age"]) and np.isnan(got.loc["a", "bmi"])
    assert pd.isna(got.loc["b", "population"])
    assert set(REQUIRED_COLUMNS) | {"population"} == set(got.columns)
    assert "height_cm" in OPTIONAL_COLUMNS


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("a\tF\t30\t20\nb\tX\t30\t20\n", r"line 3: sex is 'X' for b; write F or M"),
        ("a\tNA\t30\t20\n", r"line 2: sex is 'NA' for a; write F or M \(missing sex is not allowed\)"),
        ("a\tF\t-1\t20\n", r"line 2: age is -1 for a; it must lie between 0 and 150 years"),
        ("a\tF\tthirty\t20\n", r"line 2: age is 'thirty' for a; write a number in years"),
        ("a\tF\t30\t0\n", r"line 2: bmi is 0 for a; it must lie between"),
        ("a\tF\t30\t20\na\tM\t31\t21\n", r"sample_id 'a' appears on lines 2, 3; sample ids must be unique"),
        ("a\tF\t30\n", r"line 2 has 3 tab-separated fields but the header has 4"),
        ("a\tF\t30\t20\t9\n", r"line 2 has 5 tab-separated fields"),
        ("\tF\t30\t20\n", r"line 2: empty sample_id"),
        ("a\tF\t30\t20\n\n\nb\tQ\t1\t20\n", r"line 5: sex is 'Q'"),  # blank lines keep line numbers
    ],
)
def test_bad_values_name_the_line(tmp_path, body, message):
    with pytest.raises(GenofaceError, match=r"cov\.tsv: " + message):
        _read(tmp_path, HEAD + body)


def test_bad_tables(tmp_path):
    with pytest.raises(GenofaceError, match=r"cov\.tsv: empty file"):
        _read(tmp_path, "")
    with pytest.raises(GenofaceError, match=r"line 1 lacks the column\(s\) bmi"):
        _read(tmp_path, "sample_id\tsex\tage\na\tF\t3\n")
    with pytest.raises(GenofaceError, match="no rows below the header"):
        _read(tmp_path, HEAD)
    with pytest.raises(GenofaceError, match="names column 'age' twice"):
        _read(tmp_path, "sample_id\tsex\tage\tbmi\tage\na\tF\t3\t20\t4\n")
    with pytest.raises(GenofaceError, match="no such covariate file"):
        read_covariates(tmp_path / "none.tsv")


def test_windows_line_endings_and_bom(tmp_path):
    p = tmp_path / "cov.tsv"
    p.write_bytes("\ufeffsample_id\tsex\tage\tbmi\r\na\tM\t30\t20\r\n".encode())
    got = read_covariates(p)
    assert list(got.index) == ["a"] and got.loc["a", "bmi"] == 20.0
