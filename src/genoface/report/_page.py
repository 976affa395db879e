"""What every genoface HTML page shares: the one Jinja2 environment (templates/, autoescaped)
and the inline PNG images, so that each page is one self-contained file."""

from __future__ import annotations

import base64
import functools
import io
import json
from importlib import resources

import jinja2
import numpy as np
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


@functools.cache
def face_viewer_script() -> str:
    """The report's three.js face viewer (static/face_viewer.js, bundled from web/ by ``make
    web``), inlined in a page so that it opens offline."""
    return (resources.files("genoface.report") / "static" / "face_viewer.js").read_text(encoding="utf-8")


def base64_array(values, dtype: str) -> str:
    """An array as base64 of its little-endian binary (``dtype`` such as "<f4", "<u4"): how the
    face viewers' meshes are inlined, at a third of the size of JSON numbers."""
    return base64.b64encode(np.ascontiguousarray(values, dtype=dtype).tobytes()).decode()


def json_for_script(value) -> str:
    """``value`` as JSON that is safe inside a <script type="application/json"> element: no
    "<", ">" or "&" (a name such as "</script><script>..." stays inert), written as JSON escapes."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
