"""The served pages are built from web/pages (their shared header and genome fields included by
web/build.mjs): the committed copies must be what the sources give, so an edit under web/pages
without `make web` fails here rather than in a browser."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES, STATIC = ROOT / "web" / "pages", ROOT / "src" / "genoface" / "server" / "static"
INCLUDE = re.compile(r"^[ \t]*<!-- include: (_[\w-]+\.html) -->\n", re.M)


@pytest.mark.parametrize("name", ["index.html", "match.html"])
def test_committed_page_is_built_from_its_source(name):
    source = (PAGES / name).read_text()
    assert INCLUDE.search(source), f"web/pages/{name} includes no shared part"
    built = INCLUDE.sub(lambda m: (PAGES / m.group(1)).read_text(), source)
    assert (STATIC / name).read_text() == built, f"run `make web`: static/{name} is not built from web/pages/{name}"


def test_both_pages_share_the_genome_fields():
    fields = (PAGES / "_genome_fields.html").read_text()
    for name in ("index.html", "match.html"):
        assert fields in (STATIC / name).read_text()
    assert 'id="file"' in fields and 'id="sample"' in fields
