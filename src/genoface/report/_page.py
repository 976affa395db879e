"""What every genoface HTML page shares: the page around a body, the simulated-data banner and
inline PNG figures."""

from __future__ import annotations

import base64
import html
import io

from matplotlib.figure import Figure

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1150px; margin: 2em auto; color: #222; }
.banner { background: #fff3cd; border: 1px solid #e0c36c; padding: .6em 1em; font-weight: 600; }
table { border-collapse: collapse; margin: 1em 0; font-size: 14px; }
td, th { padding: .25em .6em; border-bottom: 1px solid #ddd; text-align: right; }
td:first-child, th:first-child, td:nth-child(2), th:nth-child(2) { text-align: left; }
img { max-width: 100%; } .chance { color: #888; font-size: 12px; }
.faces { display: flex; flex-wrap: wrap; gap: .4em 1em; }
.faces figure { margin: 0; } .faces figcaption { font-size: 13px; }
"""

SIMULATED_BANNER = (
    '<p class="banner">SIMULATED DATA. Every genome, face and trait here comes from genoface\'s simulator '
    "(coalescent genomes, faces from a known genotype-to-face map); no real person is shown.</p>"
)


def page(title: str, body: str) -> str:
    """A complete HTML page around ``body``."""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}"
        "<p><small>Predictions are probabilistic. Matching figures stand beside the demographics-only "
        "baseline.</small></p></body></html>\n"
    )


def png_tag(fig: Figure, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'
