"""What every genoface HTML page shares: the one Jinja2 environment (templates/, autoescaped)
and the inline PNG images, so that each page is one self-contained file."""

from __future__ import annotations

import base64
import io

import jinja2
from matplotlib.figure import Figure

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("genoface.report", "templates"),
    autoescape=True,
    # A key missing from a view fails loudly, as the f-strings' KeyError did, instead of rendering empty.
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
# {{ value|fmt(".3f") }}: Python's format spec, so the numbers read exactly as f-strings write them.
_ENV.filters["fmt"] = format
_ENV.globals["nan"] = float("nan")  # the figure of a record that lacks one


def render(template: str, **view) -> str:
    """The page ``template`` (under templates/) filled with ``view``."""
    return _ENV.get_template(template).render(**view)


def render_macro(template: str, macro: str, *args) -> str:
    """The HTML of macro ``macro`` of ``template``: a section of a page, for pages built elsewhere."""
    return str(getattr(_ENV.get_template(template).module, macro)(*args))


def png_data_uri(png: bytes) -> str:
    """An ``<img src>`` holding the PNG itself."""
    return f"data:image/png;base64,{base64.b64encode(png).decode()}"


def figure_data_uri(fig: Figure) -> str:
    """``fig`` as an inline PNG ``<img src>``."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return png_data_uri(buf.getvalue())
