"""The built-in face: a parametric front-of-head mesh and its PCA shape space, made by our own code.

It is what a user without the Surrey Face Model sees, so it has to read as a human face and
its variation has to be human-sized. Construction, in three layers:

1. A *chart*: the mean face's frontal coordinates (u, y), where u is arc length around the
   head (u ~ x near the midline) and y is height. A triangle mesh of the chart is made once,
   denser around the eyes, nose and lips, with every landmark and the lid margins and mouth
   line as vertices (a small DistMesh: Persson & Strang, SIAM Review 46, 2004).
2. A face from a vector of named anthropometric parameters (Farkas' norms, see ``PARAMETERS``):
   a thin-plate-spline warp moves the chart's control points (landmarks, outline) to where
   the parameters put them; the warped chart is wrapped around an elliptic-cylinder head
   (half width a(y), depth c(y), midline depth front(y)) and anatomical relief is added in
   depth: brow ridge, orbits, eyeballs and lids, nose, cheekbones, lips, chin. Both the warp
   and the relief are linear in the parameters, so thousands of faces build at once.
3. The shape space: 2,000 faces with parameters drawn from the norms (plus a little smooth
   non-parametric relief), rigidly aligned to the mean, and their PCA. The variance of each
   anthropometric distance in the space is then its published variance (tested).

Everything is deterministic (fixed seeds) and cached.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.spatial import Delaunay, cKDTree
from sklearn.utils.extmath import randomized_range_finder
from threadpoolctl import threadpool_limits  # installed with scikit-learn

from genoface.core.errors import GenofaceError
from genoface.shape._model import LANDMARK_NAMES, ShapeModel
from genoface.shape._procrustes import align_to
from genoface.shape._regions import segment_regions

log = logging.getLogger(__name__)

_DESCRIPTION = "genoface built-in parametric face (Farkas norms); simulated"
_SEED = 20240611
_N_SAMPLES = 2000  # faces sampled for the PCA
_BATCH = 250
#: Most components :func:`builtin_shape_model` can keep.
MAX_COMPONENTS = 60


@dataclass(frozen=True)
class Parameter:
    """One anthropometric parameter of the built-in face: its mean, SD and where they come from."""

    name: str
    mean: float
    sd: float
    unit: str
    source: str


_FARKAS = "Farkas 1994"
_OURS = "genoface choice, no published norm"
# The linear measures are Farkas' norms (L. G. Farkas, Anthropometry of the Head and Face, 2nd
# ed., Raven Press 1994: North American Caucasian adults, 19-25 years) with the sexes pooled:
# mean of the male and female means; SD = sqrt(mean within-sex variance + (half the difference
# of the means)^2); rounded to 0.5 mm. They are our reading of his tables, approximate, and
# worth checking against the book before anyone quotes them. Like Farkas', the distances are
# direct (caliper) distances between landmarks. The relief heights (brow ridge, orbit,
# cheekbone, lips, chin) and the forehead's width and slope are this construction's own.
PARAMETERS: tuple[Parameter, ...] = (
    Parameter("zy_zy", 133.0, 7.0, "mm", f"{_FARKAS}: face width zy-zy"),
    Parameter("go_go", 100.0, 7.0, "mm", f"{_FARKAS}: mandible width go-go"),
    Parameter("n_gn", 120.0, 7.0, "mm", f"{_FARKAS}: morphological face height n-gn"),
    Parameter("en_en", 32.0, 2.5, "mm", f"{_FARKAS}: intercanthal width en-en"),
    Parameter("ex_ex", 89.0, 4.0, "mm", f"{_FARKAS}: biocular width ex-ex"),
    Parameter("ps_pi", 10.5, 1.0, "mm", f"{_FARKAS}: palpebral fissure height ps-pi"),
    Parameter("n_sn", 52.0, 3.5, "mm", f"{_FARKAS}: nose height n-sn"),
    Parameter("al_al", 33.0, 2.7, "mm", f"{_FARKAS}: nose width al-al"),
    Parameter("sn_prn", 20.0, 2.0, "mm", f"{_FARKAS}: nasal tip protrusion sn-prn"),
    Parameter("ch_ch", 51.0, 3.5, "mm", f"{_FARKAS}: mouth width ch-ch"),
    Parameter("sn_sto", 21.0, 2.3, "mm", f"{_FARKAS}: upper lip height sn-sto"),
    Parameter("ls_sto", 8.5, 1.5, "mm", f"{_FARKAS}: upper vermilion height ls-sto"),
    Parameter("sto_li", 9.5, 1.6, "mm", f"{_FARKAS}: lower vermilion height sto-li"),
    Parameter("sto_sl", 18.5, 2.0, "mm", f"{_FARKAS}: lower lip height sto-sl"),
    Parameter("forehead_width", 124.0, 5.0, "mm", f"{_OURS}; SD of ft-ft, {_FARKAS}"),
    Parameter("forehead_inclination", 12.0, 5.0, "deg", f"{_OURS}; of the order of Farkas'"),
    Parameter("brow_ridge", 3.5, 1.2, "mm", _OURS),
    Parameter("eye_depth", 11.0, 1.5, "mm", _OURS),
    Parameter("cheekbone", 3.5, 1.5, "mm", _OURS),
    Parameter("lip_fullness", 4.0, 1.0, "mm", _OURS),
    Parameter("chin", 5.0, 2.0, "mm", _OURS),
)

# Correlations between the linear measures (genoface choice: a shared size factor. Farkas
# gives only marginal norms; face dimensions correlate positively, which also keeps the
# derived lower face height n-gn - n-sn - sn-sto from varying more than the face itself).
_CORR_GROUPS = {
    "height": ("n_gn", "n_sn", "sn_sto", "sto_sl"),
    "width": ("zy_zy", "go_go", "forehead_width", "ex_ex", "en_en", "al_al", "ch_ch"),
}
_CORR_WITHIN, _CORR_ACROSS = 0.45, 0.2

# Mean vertical positions (mm) of the landmarks that the norms do not fix, on the SFM's placement
# (eye line near y = 31, nose tip near the origin).
_Y_EN, _EX_ABOVE_EN, _N_ABOVE_EN, _BROW_ABOVE_EN = 31.0, 2.0, 7.0, 21.0
_Y_TOP_ABOVE_N, _BOTTOM_BELOW_GN = 60.0, 6.0

# Mean depth differences (mm) between the landmarks of the vertical norms, measured on the mean
# face: the heights are set so that the 3D distances match the norms (re-measure after editing
# the relief; the tests check the mean distances).
_DZ = {"n_sn": 1.15, "n_gn": 21.9, "ls_sto": 3.75, "sto_li": 3.5, "sto_sl": 10.2}
# Edge length (mm) of the mesh around eyes, nose and lips, and elsewhere on the face.
_H_FINE, _H_FACE = 1.45, 2.6

# Amplitude (mm) of the smooth non-parametric relief, per radial basis function.
_GENERIC_SD = 0.45


# --------------------------------------------------------------------------------------------
# Small smooth primitives on arrays
# --------------------------------------------------------------------------------------------


def _gauss(du: np.ndarray, dy: np.ndarray, su: float, sy: float) -> np.ndarray:
    return np.exp(-0.5 * ((du / su) ** 2 + (dy / sy) ** 2))


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * t))


def _window(t: np.ndarray, lo: float, hi: float, soft: float) -> np.ndarray:
    """About 1 for lo < t < hi, falling smoothly over ``soft`` at both ends."""
    return _sigmoid((t - lo) / soft) * _sigmoid((hi - t) / soft)


def _spline_basis(knots: np.ndarray, at: np.ndarray) -> np.ndarray:
    """(len(at), len(knots)) matrix B: B @ values is the natural cubic spline through them."""
    eye = np.eye(len(knots))
    return CubicSpline(knots, eye, bc_type="natural", axis=0)(at)


# --------------------------------------------------------------------------------------------
# Head profile: functions of the chart height, linear in knot values that depend on parameters
# --------------------------------------------------------------------------------------------


def _theta_max(eta: np.ndarray, lv: dict[str, float]) -> np.ndarray:
    """Angle (rad) around the head at which the mesh ends: the sides, rounded at the top corners
    and following the mandible's lower border from gonion to below the chin."""
    eta = np.asarray(eta, dtype=float)
    t = np.clip((lv["go"] - eta) / (lv["go"] - lv["bottom"]), 0.0, 1.0)
    jaw = np.pi / 2 * np.sqrt(1.0 - 0.86 * t**1.6)
    top = np.clip((eta - (lv["top"] - 22.0)) / 22.0, 0.0, 1.0)
    return jaw * (1.0 - 0.36 * top**1.5)


# Knots of the head's half width a and depth c, at these named heights.
_AC_KNOTS = ("bottom", "gn", "go", "sto", "sn", "zy", "brow", "top")


def _half_width(q: dict[str, np.ndarray]) -> np.ndarray:
    """(n, len(_AC_KNOTS)) half width a (mm) of the head at the knots: the forehead, zygion
    (zy-zy / 2), the cheeks, gonion (go-go / 2) and the narrowing towards the chin."""
    fw, zy, go = q["forehead_width"] / 2, q["zy_zy"] / 2, q["go_go"] / 2
    return np.stack([0.62 * go, 0.72 * go, go, 0.5 * (zy + go) + 2.0, zy - 1.5, zy, fw, fw - 9.0], axis=-1)


def _depth(q: dict[str, np.ndarray]) -> np.ndarray:
    """(n, len(_AC_KNOTS)) depth c (mm) from the midline to the sides of the head (fixed)."""
    c = np.array([45.0, 55.0, 76.0, 80.0, 77.0, 70.0, 66.0, 60.0])
    return np.broadcast_to(c, (len(q["zy_zy"]), len(c)))


def _front_heights(lv: dict[str, float]) -> np.ndarray:
    return np.array(
        [
            lv["bottom"],
            lv["gn"],
            lv["gn"] + 12.0,
            lv["sto"] - 14.0,
            lv["sto"],
            lv["sn"],
            lv["en"] - 12.0,
            lv["en"],
            lv["brow"],
            lv["brow"] + 22.0,
            lv["top"],
        ]
    )


def _front(q: dict[str, np.ndarray], lv: dict[str, float]) -> np.ndarray:
    """(n, 11) midline depth (mm) of the head before relief, at :func:`_front_heights`."""
    n = len(q["zy_zy"])
    base = np.array([-52.0, -38.0, -30.0, -27.0, -20.0, -17.0, -18.5, -19.0, -14.0, -14.0, -16.0])
    out = np.tile(base, (n, 1))
    # The forehead recedes by its inclination above the brows.
    incl = np.tan(np.deg2rad(q["forehead_inclination"]))
    out[:, -2] -= incl * 22.0
    out[:, -1] -= incl * (lv["top"] - lv["brow"])
    return out


class _Profile:
    """a(eta), c(eta), front(eta) of many faces at fixed chart heights ``eta`` (natural splines,
    linear in the knot values)."""

    def __init__(self, lv: dict[str, float], eta: np.ndarray):
        self.lv = lv
        self.ac_eta = np.array([lv[k] for k in _AC_KNOTS])
        self.ac = _spline_basis(self.ac_eta, eta)
        self.fr = _spline_basis(_front_heights(lv), eta)
        self._rows: dict[float, np.ndarray] = {}

    def evaluate(self, q: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _half_width(q) @ self.ac.T, _depth(q) @ self.ac.T, _front(q, self.lv) @ self.fr.T

    def half_width_at(self, q: dict[str, np.ndarray], eta: float) -> np.ndarray:
        if eta not in self._rows:
            self._rows[eta] = _spline_basis(self.ac_eta, np.array([eta]))[0]
        return _half_width(q) @ self._rows[eta]


def _mean_params() -> dict[str, np.ndarray]:
    return {p.name: np.array([p.mean]) for p in PARAMETERS}


def _to_u(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Chart coordinate u of a point at frontal x on a head of half width a."""
    return a * np.arcsin(np.clip(x / a, -0.999, 0.999))


def _eye_frame(en: np.ndarray, ex: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Centre, unit axis en->ex, unit 'up' normal and half length of the palpebral fissure."""
    centre = 0.5 * (en + ex)
    d = ex - en
    half = 0.5 * np.linalg.norm(d, axis=-1, keepdims=True)
    d = d / (2 * half)
    up = np.stack([-d[..., 1] * np.sign(d[..., 0]), np.abs(d[..., 0])], axis=-1)
    return centre, d, up, half[..., 0]


# Share of the fissure height above the line en-ex (upper lid) at the fissure's middle.
_UPPER_SHARE = 0.6


def _lid_height(p: np.ndarray, fissure_h, upper: bool) -> np.ndarray:
    """Height of a lid margin above (upper) or below (lower) the canthal line at p in [-1, 1]
    from en to ex: an almond, the upper lid peaking medially, the lower lid laterally. At p = 0
    the two add up to the fissure height ps-pi."""
    base = np.clip(1.0 - p**2, 0.0, None)
    if upper:
        return _UPPER_SHARE * fissure_h * base * (1.0 - 0.22 * p) * (1.0 + 0.15 * base) / 1.15
    return (1 - _UPPER_SHARE) * fissure_h * base * (1.0 + 0.25 * p) * (1.0 + 0.1 * base) / 1.1


def _mouth_line(u: np.ndarray, sto: np.ndarray, ch_l: np.ndarray) -> np.ndarray:
    """Height of the mouth line (the lips' contact) at u: a shallow arc from sto to ch."""
    t = np.clip(np.abs(u) / ch_l[0], 0.0, 1.0)
    return sto[1] + (ch_l[1] - sto[1]) * t**2


# --------------------------------------------------------------------------------------------
# Control points: where the parameters put the landmarks and the outline, in chart coordinates
# --------------------------------------------------------------------------------------------

_SIDE_LEVELS = ("top", "brow", "en", "zy", "sn", "sto", "go")
_JAW_STEPS = (0.25, 0.5, 0.75, 1.0)


def _vertical(q: dict[str, np.ndarray], dz: dict[str, float]) -> dict[str, np.ndarray]:
    """Heights (mm) of the landmarks of each face; ``dz`` are the mean depth differences that
    turn the 3D norms n-sn and n-gn into height differences."""

    def height(name: str) -> np.ndarray:  # the height difference that gives a 3D distance
        return np.sqrt(np.maximum(q[name] ** 2 - dz[name] ** 2, 1.0))

    y = {}
    y["en"] = np.full_like(q["n_sn"], _Y_EN)
    y["ex"] = y["en"] + _EX_ABOVE_EN
    y["n"] = y["en"] + _N_ABOVE_EN
    y["sn"] = y["n"] - height("n_sn")
    y["prn"] = y["sn"] + 0.6 * q["sn_prn"]  # the tip lies about 0.6 sn-prn above subnasale
    y["al"] = y["sn"] + 4.0
    y["sto"] = y["sn"] - q["sn_sto"]
    y["ch"] = y["sto"] - 0.5
    y["ls"] = y["sto"] + height("ls_sto")
    y["li"] = y["sto"] - height("sto_li")
    y["sl"] = y["sto"] - height("sto_sl")
    # Keep the chin below the labiomental fold even for extreme draws.
    y["gn"] = np.minimum(y["n"] - height("n_gn"), y["sl"] - 14.0)
    y["pog"] = y["gn"] + 0.45 * (y["sl"] - y["gn"])
    y["brow"] = y["en"] + _BROW_ABOVE_EN
    y["g"] = y["n"] + 12.0
    y["top"] = y["n"] + _Y_TOP_ABOVE_N
    y["bottom"] = y["gn"] - _BOTTOM_BELOW_GN
    y["zy"] = y["sn"] + 0.45 * (y["en"] - y["sn"])
    y["go"] = y["sto"] - 0.45 * (y["sto"] - y["gn"])
    return y


def _level_eta(level, lv: dict[str, float]) -> float:
    """Mean chart height of a named level, or of ("jaw", t): t of the way from gonion down."""
    if isinstance(level, tuple):
        return lv["go"] + level[1] * (lv["bottom"] - lv["go"])
    return lv[level]


def _targets(
    q: dict[str, np.ndarray], lv: dict[str, float], dz: dict[str, float], profile: _Profile
) -> dict[str, np.ndarray]:
    """Chart positions (n, 2) of every control point for parameters ``q`` (arrays of length n)."""
    y = _vertical(q, dz)
    zero = np.zeros_like(q["n_sn"])

    def a_at(level) -> np.ndarray:
        return profile.half_width_at(q, _level_eta(level, lv))

    def pt(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.stack([u, v], axis=-1)

    out = {
        "top": pt(zero, y["top"]),
        "glabella": pt(zero, y["g"]),
        "nasion": pt(zero, y["n"]),
        "pronasale": pt(zero, y["prn"]),
        "subnasale": pt(zero, y["sn"]),
        "labiale_superius": pt(zero, y["ls"]),
        "stomion": pt(zero, y["sto"]),
        "labiale_inferius": pt(zero, y["li"]),
        "sublabiale": pt(zero, y["sl"]),
        "pogonion": pt(zero, y["pog"]),
        "gnathion": pt(zero, y["gn"]),
        "bottom": pt(zero, y["bottom"]),
    }
    half = {
        "endocanthion": ("en_en", "en"),
        "exocanthion": ("ex_ex", "ex"),
        "alare": ("al_al", "al"),
        "cheilion": ("ch_ch", "ch"),
    }
    for name, (width, level) in half.items():
        u = _to_u(q[width] / 2, a_at(level))
        out[f"{name}_l"], out[f"{name}_r"] = pt(u, y[level]), pt(-u, y[level])
    for s in ("l", "r"):
        en, ex = out[f"endocanthion_{s}"], out[f"exocanthion_{s}"]
        centre, _, up, _ = _eye_frame(en, ex)
        fh = q["ps_pi"][:, None]
        out[f"palpebrale_superius_{s}"] = centre + _UPPER_SHARE * fh * up
        out[f"palpebrale_inferius_{s}"] = centre - (1 - _UPPER_SHARE) * fh * up
        # The brow's landmark (iBUG 20/25) sits over the lateral half of the eye.
        out[f"brow_{s}"] = pt(en[:, 0] + 0.62 * (ex[:, 0] - en[:, 0]), y["brow"])
    # The outline: the head's sides (theta = theta_max) at several heights and the jaw line.
    for level in _SIDE_LEVELS:
        u = a_at(level) * _theta_max(np.array([lv[level]]), lv)
        out[f"side_{level}_l"], out[f"side_{level}_r"] = pt(u, y[level]), pt(-u, y[level])
    for t in _JAW_STEPS:
        eta = _level_eta(("jaw", t), lv)
        u = a_at(("jaw", t)) * _theta_max(np.array([eta]), lv)
        yy = y["go"] + t * (y["bottom"] - y["go"])
        out[f"jaw_{t}_l"], out[f"jaw_{t}_r"] = pt(u, yy), pt(-u, yy)
    return out


# --------------------------------------------------------------------------------------------
# The chart mesh (made once, on the mean face)
# --------------------------------------------------------------------------------------------


def _outline(lv: dict[str, float], a_of_eta, n: int = 400) -> np.ndarray:
    """Points along the edge of the chart domain |u| <= a(eta) theta_max(eta)."""
    eta = np.linspace(lv["bottom"], lv["top"], n)
    umax = a_of_eta(eta) * _theta_max(eta, lv)
    sides = [np.stack([s * umax, eta], axis=1) for s in (1.0, -1.0)]
    ends = [np.stack([np.linspace(-1, 1, n // 4) * umax[i], np.full(n // 4, eta[i])], axis=1) for i in (0, -1)]
    return np.vstack(sides + ends)


def _lid_curves(en: np.ndarray, ex: np.ndarray, fissure_h: float, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Points along the upper and lower lid margins between the canthi (canthi excluded)."""
    centre, d, up, half = _eye_frame(en, ex)
    n = max(int(np.ceil(2 * half / step)), 4)
    p = np.linspace(-1, 1, n + 1)[1:-1]
    upper = centre + np.outer(p * half, d) + np.outer(_lid_height(p, fissure_h, upper=True), up)
    lower = centre + np.outer(p * half, d) - np.outer(_lid_height(p, fissure_h, upper=False), up)
    return upper, lower


def _size_field(p: np.ndarray, lm: dict[str, np.ndarray], umax_of) -> np.ndarray:
    """Target edge length (mm) of the chart mesh at points ``p`` (n, 2)."""
    u, eta = p[:, 0], p[:, 1]
    fine = np.zeros(len(p))
    for s in ("l", "r"):
        c = 0.5 * (lm[f"endocanthion_{s}"] + lm[f"exocanthion_{s}"])
        fine = np.maximum(fine, _gauss(u - c[0], eta - c[1] - 2.0, 17.0, 9.0))
    c = lm["stomion"]
    fine = np.maximum(fine, _gauss(u - c[0], eta - c[1], 26.0, 12.0))
    fine = np.maximum(fine, _gauss(u, eta - lm["subnasale"][1] - 5.0, 18.0, 11.0))
    fine = np.maximum(fine, 0.7 * _gauss(u, eta - lm["nasion"][1] + 15, 9.0, 18.0))
    fine = np.maximum(fine, 0.5 * _gauss(u, eta - lm["pogonion"][1], 22.0, 14.0))
    theta = np.abs(u) / np.maximum(umax_of(eta), 1.0)  # 0 on the midline, 1 at the sides
    coarse = 1.0 + 1.5 * np.clip((theta - 0.45) / 0.55, 0, 1) ** 1.5
    coarse *= 1.0 + 0.6 * np.clip((eta - lm["brow_l"][1] - 10.0) / 30.0, 0, 1)
    return (_H_FACE - (_H_FACE - _H_FINE) * fine) * coarse


def _distmesh(
    inside,
    boundary: np.ndarray,
    fixed: np.ndarray,
    size,
    h0: float,
    rng: np.random.Generator,
    n_iter: int = 30,
) -> tuple[np.ndarray, np.ndarray]:
    """Triangulate the domain ``inside(points) -> bool`` with edge lengths following ``size``.

    DistMesh (Persson & Strang 2004): points start on a hexagonal lattice of spacing ``h0``
    (the smallest size) thinned to the size field; then the bars of a Delaunay triangulation
    act as springs that only push, with ``fixed`` points pinned, and points that leave the
    domain go back to the nearest of the dense ``boundary`` samples.
    """
    edge_tree = cKDTree(boundary)
    lo, hi = boundary.min(axis=0), boundary.max(axis=0)
    ys = np.arange(lo[1], hi[1], h0 * np.sqrt(3) / 2)
    gx, gy = np.meshgrid(np.arange(lo[0], hi[0], h0), ys)
    gx = gx + (np.arange(len(ys))[:, None] % 2) * h0 / 2
    p = np.stack([gx.ravel(), gy.ravel()], axis=1)
    p = p[inside(p) & (edge_tree.query(p)[0] > 0.3 * h0)]
    keep = 1.0 / size(p) ** 2
    p = p[rng.random(len(p)) < keep / keep.max()]
    if len(fixed):
        p = p[cKDTree(fixed).query(p)[0] > 0.6 * size(p)]
    nfix = len(fixed)
    p = np.vstack([fixed, p])

    def triangulate(p: np.ndarray) -> np.ndarray:
        tri = Delaunay(p).simplices
        return tri[inside(p[tri].mean(axis=1))]

    dt, fscale = 0.2, 1.2
    for it in range(n_iter):
        if it % 3 == 0:  # retriangulate now and then: points move little between
            tri = triangulate(p)
            e = np.sort(np.vstack([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [0, 2]]]), axis=1)
            key = np.unique(e[:, 0] * len(p) + e[:, 1])
            bars = np.stack([key // len(p), key % len(p)], axis=1)
        vec = p[bars[:, 0]] - p[bars[:, 1]]
        length = np.linalg.norm(vec, axis=1)
        hbar = size((p[bars[:, 0]] + p[bars[:, 1]]) / 2)
        l0 = hbar * fscale * np.sqrt((length**2).sum() / (hbar**2).sum())
        fvec = (np.maximum(l0 - length, 0.0) / length)[:, None] * vec
        ftot = np.stack(
            [
                np.bincount(bars[:, 0], fvec[:, k], len(p)) - np.bincount(bars[:, 1], fvec[:, k], len(p))
                for k in range(2)
            ],
            axis=1,
        )
        ftot[:nfix] = 0.0
        p = p + dt * ftot
        out = ~inside(p)
        out[:nfix] = False
        if out.any():
            p[out] = boundary[edge_tree.query(p[out])[1]]
    return p, triangulate(p)


def _clean_triangles(p: np.ndarray, tri: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counter-clockwise triangles without slivers on the edge, and no unused points."""
    e1, e2 = p[tri[:, 1]] - p[tri[:, 0]], p[tri[:, 2]] - p[tri[:, 0]]
    cross = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    tri = np.where((cross < 0)[:, None], tri[:, [0, 2, 1]], tri)
    # Flat triangles along the boundary (three nearly collinear edge points) carry no surface.
    lengths = np.linalg.norm(p[tri] - p[tri[:, [1, 2, 0]]], axis=2)
    quality = 2 * np.abs(cross) / (lengths**2).sum(axis=1)  # 2/sqrt(3)... for equilateral ~0.58
    tri = tri[quality > 0.05]
    used = np.unique(tri)
    remap = np.full(len(p), -1)
    remap[used] = np.arange(len(used))
    return p[used], remap[tri]


# --------------------------------------------------------------------------------------------
# Relief: depth offsets on the chart, each a fixed field times a per-face amplitude
# --------------------------------------------------------------------------------------------


def _relief_fields(p: np.ndarray, lm: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Unit relief fields (V,) on the mean chart; the face adds sum(amplitude * field) in depth.

    In a fixed order (the columns of the generator's relief matrix): nose, alae, orbits, eyes,
    brow, cheekbones, face, lips, mouth, chin.
    """
    f: dict[str, np.ndarray] = {}
    for part in (_nose_fields, _eye_fields, _brow_fields, _cheek_fields, _lip_fields):
        f.update(part(p, lm))
    return f


def _nose_fields(p: np.ndarray, lm: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The nose (unit height at the tip) and the alae."""
    u, eta = p[:, 0], p[:, 1]
    au = np.abs(u)
    n, prn, sn, al = lm["nasion"], lm["pronasale"], lm["subnasale"], lm["alare_l"]
    f: dict[str, np.ndarray] = {}
    # --- Nose: a ridge from nasion to the tip, then the underside back to subnasale. Unit height
    # at the tip; its amplitude is solved per face from the tip protrusion sn-prn.
    t = (n[1] - eta) / (n[1] - prn[1])  # 0 at nasion, 1 at the tip
    s = (prn[1] - eta) / (prn[1] - sn[1])  # 0 at the tip, 1 at subnasale
    tc = np.clip(t, 0, 1)
    # Sagittal profile: the dorsum rising to the tip and the underside falling back to
    # subnasale, both continued past the tip and joined by a smooth minimum: a rounded tip.
    dorsum = 0.22 + 0.78 * np.maximum(t, 0) ** 1.1
    dorsum = np.where(t < 0, 0.22 * np.exp(-0.5 * (t / 0.25) ** 2), dorsum)
    under = np.where(s < 0, 1.0 - 1.2 * s, np.clip(1 - np.clip(s, 0, 1) ** 1.6, 0, 1) ** 1.2)
    k = 9.0
    height = -np.log(np.exp(-k * dorsum) + np.exp(-k * under)) / k
    # Narrow ridge with steep side walls, on a broad base that fades towards the tip.
    width = np.where(t < 1, 6.5 + 2.0 * tc, 8.5 - 2.5 * np.clip(s, 0, 1))
    r = au / width
    broad = np.where(t < 1, 0.35 * (1 - 0.7 * tc), 0.1)
    cross = (1 - broad) * np.exp(-0.5 * r**2) + broad * np.exp(-0.5 * (r / 2.3) ** 2)
    lobule = _gauss(u, eta - prn[1] + 1.0, 8.0, 6.0)  # the rounded tip (domes)
    f["nose"] = height * cross + 0.3 * lobule * _window(eta, sn[1] + 1, n[1] - 18, 2.0)

    # Alae: rounded wings beside the lobule, set back from the tip, with the alar groove along
    # their upper and outer edge; the nostrils open on the underside between ala and columella.
    ala_c = np.array([al[0] - 6.5, al[1] - 0.5])
    dr = np.hypot((au - ala_c[0]) / np.where(au < ala_c[0], 1.4, 1.0), (eta - ala_c[1]) / 0.85)
    ala = np.exp(-((dr / 6.6) ** 3))
    outer = _sigmoid((au - ala_c[0] - 1.0) / 1.5) * _sigmoid((eta - sn[1] + 1) / 1.5)
    groove = np.exp(-0.5 * ((dr - 7.3) / 1.1) ** 2) * outer
    nu, nv = au - 5.0, eta - sn[1] - 1.8
    nostril = _gauss(0.85 * nu + 0.5 * nv, 0.85 * nv - 0.5 * nu, 2.6, 1.1)
    f["alae"] = 5.0 * ala - 1.6 * groove - 0.8 * nostril
    return f


def _eye_fields(p: np.ndarray, lm: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Eyes: orbit, eyeball, palpebral fissure, lid folds. Depth of the orbit is a parameter."""
    orbit = np.zeros_like(p[:, 0])
    eyes = np.zeros_like(p[:, 0])
    for sgn, s_ in ((1.0, "l"), (-1.0, "r")):
        one_orbit, one_eye = _one_eye(p, lm, sgn, s_)
        orbit += one_orbit
        eyes += one_eye
    return {"orbits": -orbit, "eyes": eyes}


def _one_eye(p: np.ndarray, lm: dict[str, np.ndarray], sgn: float, s_: str) -> tuple[np.ndarray, np.ndarray]:
    """The orbit (unit depth) and the relief of the eye on side ``s_`` ("l", sgn 1, or "r", -1)."""
    en, ex = lm[f"endocanthion_{s_}"], lm[f"exocanthion_{s_}"]
    fh = np.linalg.norm(lm[f"palpebrale_superius_{s_}"] - lm[f"palpebrale_inferius_{s_}"])
    c, d, up, half = _eye_frame(en, ex)
    rel = p - c
    pp = (rel @ d) / half
    qq = rel @ up
    # A bowl with a flat floor and steep walls, steepest under the brow.
    # Radii: steep towards the nose and under the brow, gentle laterally and below.
    du, dv = rel[:, 0] * sgn + 2.5, rel[:, 1] - 2.5
    r2 = (du / np.where(du > 0, 22.0, 16.0)) ** 2 + (dv / np.where(dv > 0, 10.5, 13.0)) ** 2
    orbit = np.exp(-(r2**1.5))
    q_up = _lid_height(pp, fh, upper=True)
    q_lo = -_lid_height(pp, fh, upper=False)
    inside = _sigmoid((q_up - qq) / 0.3) * _sigmoid((qq - q_lo) / 0.4) * _window(pp, -1, 1, 0.05)
    ball = _gauss(rel[:, 0], rel[:, 1] - 0.5, 9.5, 8.0)
    cornea = _gauss(rel[:, 0] - sgn * 0.5, rel[:, 1] + 0.2, 4.8, 4.5)
    along = np.clip(1 - pp**2, 0, None)
    crease_q = q_up + 0.9 + 5.5 * np.sqrt(along)
    crease = np.exp(-0.5 * ((qq - crease_q) / 1.1) ** 2) * along**0.5 * _window(pp, -1.1, 1.15, 0.1)
    fold = np.exp(-0.5 * ((qq - crease_q - 2.8) / 2.2) ** 2) * along**0.3
    upper_lid = np.exp(-0.5 * ((qq - 0.5 * (q_up + crease_q)) / 1.6) ** 2) * along
    lower_lid = np.exp(-0.5 * ((qq - q_lo + 1.8) / 1.3) ** 2) * along**0.7
    trough = np.exp(-0.5 * ((qq - q_lo + 7.0) / 2.4) ** 2) * _window(pp, -1.3, 0.6, 0.3)
    canthus = _gauss(rel @ d + half + 1.0, qq, 1.8, 1.4)  # the lacrimal corner sits deeper
    eye = (
        5.5 * ball
        + 1.6 * cornea * inside
        - 2.6 * inside
        - 0.7 * crease
        + 0.6 * fold
        + 0.5 * upper_lid
        + 0.7 * lower_lid
        - 0.9 * trough
        - 1.2 * canthus
    )
    return orbit, eye


def _brow_fields(p: np.ndarray, lm: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The brow ridge along an arc over each eye, and the glabella between."""
    u, eta = p[:, 0], p[:, 1]
    brow = np.zeros_like(u)
    for s_ in ("l", "r"):
        b = lm[f"brow_{s_}"]
        du = u - b[0]
        arc = b[1] - 3.5 - 0.0035 * du**2 - 0.05 * du * np.sign(b[0])
        brow += np.exp(-0.5 * ((eta - arc) / 5.5) ** 2) * _gauss(du, 0.0, 16.0, 1.0)
    return {"brow": brow + 0.5 * _gauss(u, eta - lm["glabella"][1] + 3, 10.0, 7.0)}


def _cheek_fields(p: np.ndarray, lm: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The cheekbones, and the fixed modelling of the cheeks ("face")."""
    u, eta = p[:, 0], p[:, 1]
    au = np.abs(u)
    al, ch, sto, ex = lm["alare_l"], lm["cheilion_l"], lm["stomion"], lm["exocanthion_l"]
    f = {"cheekbones": _gauss(au - ex[0] + 2.0, eta - ex[1] + 20.0, 13.0, 10.0)}
    nl_t = np.clip((al[1] + 2 - eta) / (al[1] + 2 - ch[1] + 9), 0, 1)  # along the nasolabial fold
    nl_u = al[0] + 5.0 + nl_t * (ch[0] + 6.0 - al[0] - 5.0) + 3.0 * np.sin(np.pi * nl_t)
    nasolabial = np.exp(-0.5 * ((au - nl_u) / 3.0) ** 2) * _window(eta, ch[1] - 12, al[1] + 4, 2.0)
    cheek = _gauss(au - nl_u - 9, eta - al[1] + 6, 12, 12)
    temple = _gauss(au - lm["brow_l"][0] - 26.0, eta - lm["brow_l"][1] + 4, 8.0, 14.0)
    boss = _gauss(au - 24, eta - lm["brow_l"][1] - 24, 18, 12)
    muzzle = _gauss(u, eta - sto[1] + 3, 25.0, 22.0)
    malar = _gauss(au - 37.0, eta - al[1] - 8.0, 17.0, 13.0)
    f["face"] = -0.6 * nasolabial + 3.0 * cheek + 5.0 * malar - 3.0 * temple + 1.2 * boss + 7.0 * muzzle
    return f


def _lip_fields(p: np.ndarray, lm: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Lips: vermilion of each lip between the mouth line and its border, a Cupid's bow, the
    philtrum; the mouth line itself; the labiomental fold; the chin."""
    u, eta = p[:, 0], p[:, 1]
    au = np.abs(u)
    sn, ls, sto, li = lm["subnasale"], lm["labiale_superius"], lm["stomion"], lm["labiale_inferius"]
    sl, pog, ch = lm["sublabiale"], lm["pogonion"], lm["cheilion_l"]
    f: dict[str, np.ndarray] = {}
    y_st = _mouth_line(u, sto, ch)
    w = np.clip(1 - (au / (ch[0] + 1.5)) ** 2, 0, None)
    bow = 1.3 * np.exp(-0.5 * ((au - 5.0) / 3.0) ** 2) - 0.4 * np.exp(-0.5 * (u / 1.6) ** 2)
    y_vb = y_st + (ls[1] - sto[1]) * w**0.6 + bow * w
    y_lb = y_st - (sto[1] - li[1]) * w**0.55
    v_up = (eta - y_st) / np.maximum(y_vb - y_st, 0.5)
    v_lo = (y_st - eta) / np.maximum(y_st - y_lb, 0.5)
    # Each lip is a roll: low where the lips meet, fullest in its middle, then back to the skin.
    upper = np.exp(-0.5 * ((v_up - 0.55) / 0.4) ** 2) * (eta >= y_st)
    lower = 1.15 * np.exp(-0.5 * ((v_lo - 0.5) / 0.36) ** 2) * (eta < y_st)
    f["lips"] = upper * w**0.5 + lower * w**0.45
    line = np.exp(-0.5 * ((eta - y_st) / 1.0) ** 2) * np.clip(1 - (au / (ch[0] + 1.0)) ** 2, 0, None) ** 0.35
    corner = _gauss(au - ch[0] - 0.5, eta - ch[1], 2.5, 2.0)
    roll = np.exp(-0.5 * ((eta - y_vb - 0.3) / 0.9) ** 2) * w
    philtrum = (np.exp(-0.5 * ((au - 5.0) / 2.2) ** 2) - 0.5 * np.exp(-0.5 * (u / 2.2) ** 2)) * _window(
        eta, ls[1] + 1, sn[1] - 2, 1.5
    )
    labiomental = _gauss(u, eta - sl[1], 15.0, 3.6)
    f["mouth"] = -1.3 * line - 1.6 * corner + 0.5 * roll + 0.5 * philtrum - 2.6 * labiomental
    f["chin"] = _gauss(u, eta - pog[1], 14.0, 9.5)
    return f


def _generic_fields(p: np.ndarray, spacing: float = 22.0, sigma: float = 13.0) -> np.ndarray:
    """(V, G) smooth radial basis functions on a lattice over the face (generic relief)."""
    lo, hi = p.min(axis=0), p.max(axis=0)
    cu = np.arange(lo[0] + spacing / 2, hi[0], spacing)
    cy = np.arange(lo[1] + spacing / 2, hi[1], spacing)
    c = np.stack(np.meshgrid(cu, cy), axis=-1).reshape(-1, 2)
    c = c[np.abs(c[:, 0]) < 0.75 * hi[0]]  # keep to the front of the head
    d2 = ((p[:, None, :] - c[None, :, :]) ** 2).sum(-1)
    return np.exp(-0.5 * d2 / sigma**2)


# --------------------------------------------------------------------------------------------
# Thin-plate spline warp, linear in the targets
# --------------------------------------------------------------------------------------------


def _tps_matrix(src: np.ndarray, at: np.ndarray) -> np.ndarray:
    """(len(at), len(src)) matrix W: the TPS taking src to targets, at ``at``, is W @ targets."""

    def kernel(r2: np.ndarray) -> np.ndarray:
        return np.where(r2 > 0, 0.5 * r2 * np.log(np.maximum(r2, 1e-300)), 0.0)

    n = len(src)
    k = kernel(((src[:, None] - src[None]) ** 2).sum(-1))
    poly = np.hstack([np.ones((n, 1)), src])
    lhs = np.zeros((n + 3, n + 3))
    lhs[:n, :n], lhs[:n, n:], lhs[n:, :n] = k, poly, poly.T
    inv = np.linalg.inv(lhs)[:, :n]  # maps targets to (weights, affine)
    ka = kernel(((at[:, None] - src[None]) ** 2).sum(-1))
    return np.hstack([ka, np.ones((len(at), 1)), at]) @ inv


# --------------------------------------------------------------------------------------------
# The generator: chart mesh + fields, then faces from parameters
# --------------------------------------------------------------------------------------------


def _pinned_points(src: np.ndarray, ctrl0: dict[str, np.ndarray]) -> np.ndarray:
    """Pinned chart vertices: the controls ``src``, the lid margins and the mouth line, so that
    the mesh has edges exactly where the relief has its creases."""
    fixed = [src]
    for s in ("l", "r"):
        fh = np.linalg.norm(ctrl0[f"palpebrale_superius_{s}"] - ctrl0[f"palpebrale_inferius_{s}"])
        fixed += list(_lid_curves(ctrl0[f"endocanthion_{s}"], ctrl0[f"exocanthion_{s}"], fh, 1.15))
    ch = ctrl0["cheilion_l"]
    mu = np.linspace(-ch[0], ch[0], int(2 * ch[0] / 1.15) + 1)[1:-1]
    fixed.append(np.stack([mu, _mouth_line(mu, ctrl0["stomion"], ch)], axis=1))
    mu = mu[np.abs(mu) < ch[0] - 2.5]  # the lips' edges either side of the mouth line
    for dy in (-1.0, 1.0):
        fixed.append(np.stack([mu, _mouth_line(mu, ctrl0["stomion"], ch) + dy], axis=1))
    fixed = np.vstack(fixed)
    keep = np.ones(len(fixed), bool)  # the lid points at p = 0 coincide with ps / pi
    for i, j in sorted(cKDTree(fixed).query_pairs(0.5)):
        if keep[i]:
            keep[j] = False
    return fixed[keep]


def _chart_mesh(
    mean_q: dict[str, np.ndarray],
    lv: dict[str, float],
    level_profile: _Profile,
    ctrl0: dict[str, np.ndarray],
    fixed: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Points (V, 2) and triangles (T, 3) of the chart mesh of the mean face, through ``fixed``."""
    a_knots = _half_width(mean_q)[0]
    lo, hi = lv["bottom"], lv["top"]

    def a_mean(eta: np.ndarray) -> np.ndarray:  # the mean head's half width
        return _spline_basis(level_profile.ac_eta, np.atleast_1d(eta)) @ a_knots

    def umax_of(eta: np.ndarray) -> np.ndarray:  # the chart's half width at height eta
        return a_mean(eta) * _theta_max(eta, lv)

    def size(p: np.ndarray) -> np.ndarray:
        return _size_field(p, ctrl0, umax_of)

    def inside(p: np.ndarray) -> np.ndarray:
        eta = p[:, 1]
        return (eta > lo) & (eta < hi) & (np.abs(p[:, 0]) < umax_of(np.clip(eta, lo, hi)))

    boundary = _outline(lv, a_mean, n=1500)
    pts, tri = _distmesh(inside, boundary, fixed, size, h0=_H_FINE, rng=np.random.default_rng(_SEED))
    return _clean_triangles(pts, tri)


class _FaceGenerator:
    """Builds faces (n, V, 3) from parameter rows on one fixed triangle mesh."""

    def __init__(self) -> None:
        mean_q = _mean_params()
        self.dz = dict(_DZ)
        lv = self.levels = {k: float(v[0]) for k, v in _vertical(mean_q, self.dz).items()}
        # The mean head profile along the levels themselves, to place the controls.
        level_profile = _Profile(lv, np.array([lv["top"]]))
        ctrl0 = {k: v[0] for k, v in _targets(mean_q, lv, self.dz, level_profile).items()}
        self.ctrl_names = list(ctrl0)
        src = np.stack([ctrl0[k] for k in self.ctrl_names])

        pts, tri = _chart_mesh(mean_q, lv, level_profile, ctrl0, _pinned_points(src, ctrl0))
        self.chart, self.triangles = pts, tri.astype(np.int64)
        d, idx = cKDTree(pts).query(src)
        if d.max() > 1e-9:
            raise RuntimeError("built-in face: a control point is not a vertex of the chart mesh")
        self.landmarks = {name: int(idx[self.ctrl_names.index(name)]) for name in LANDMARK_NAMES}
        self.extra_landmarks = {k: int(i) for k, i in zip(self.ctrl_names, idx, strict=True) if k not in self.landmarks}

        self.warp = _tps_matrix(src, pts)  # (V, C)
        self.profile = _Profile(lv, pts[:, 1])
        fields = _relief_fields(pts, ctrl0)
        self.relief_names = list(fields)
        self.relief = np.stack([fields[k] for k in self.relief_names], axis=1)  # (V, F)
        self.generic = _generic_fields(pts)  # (V, G)

    @property
    def n_generic(self) -> int:
        return self.generic.shape[1]

    def faces(self, params: np.ndarray, generic: np.ndarray | None = None) -> np.ndarray:
        """Faces (n, V, 3) for parameter rows ``params`` (n, P) and generic relief (n, G)."""
        q = {p.name: params[:, i] for i, p in enumerate(PARAMETERS)}
        tgt = _targets(q, self.levels, self.dz, self.profile)
        u = np.stack([tgt[k][:, 0] for k in self.ctrl_names], axis=1) @ self.warp.T  # (n, V)
        y = np.stack([tgt[k][:, 1] for k in self.ctrl_names], axis=1) @ self.warp.T
        a, c, front = self.profile.evaluate(q)  # (n, V) each
        theta = u / a
        x = a * np.sin(theta)
        z = front - c * (1.0 - np.cos(theta))
        amp = np.ones((len(params), len(self.relief_names)))
        for field, name in _RELIEF_PARAMETER.items():
            amp[:, self.relief_names.index(field)] = q[name]
        i_nose = self.relief_names.index("nose")
        amp[:, i_nose] = 0.0
        z = z + amp @ self.relief.T
        if generic is not None:
            z = z + generic @ self.generic.T
        # The nose's height is solved per face so that the tip protrudes sn-prn from subnasale.
        tip, sn = self.landmarks["pronasale"], self.landmarks["subnasale"]
        dy = y[:, tip] - y[:, sn]
        want = np.sqrt(np.maximum(q["sn_prn"] ** 2 - dy**2, 1.0))
        unit = self.relief[:, i_nose]
        z = z + ((want - (z[:, tip] - z[:, sn])) / (unit[tip] - unit[sn]))[:, None] * unit[None, :]
        return np.stack([x, y, z], axis=-1)


# Relief fields whose amplitude (mm) is a parameter; the others have a fixed amplitude.
_RELIEF_PARAMETER = {
    "orbits": "eye_depth",
    "brow": "brow_ridge",
    "cheekbones": "cheekbone",
    "lips": "lip_fullness",
    "chin": "chin",
}


def _param_matrix(q: dict[str, np.ndarray]) -> np.ndarray:
    return np.stack([np.asarray(q[p.name], dtype=float) for p in PARAMETERS], axis=1)


def _correlation() -> np.ndarray:
    names = [p.name for p in PARAMETERS]
    corr = np.eye(len(names))
    group = {n: g for g, members in _CORR_GROUPS.items() for n in members}
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i != j and a in group and b in group:
                corr[i, j] = _CORR_WITHIN if group[a] == group[b] else _CORR_ACROSS
    return corr


def sample_parameters(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, P) parameter vectors drawn from the norms (Gaussian, correlated as ``_CORR_GROUPS``)."""
    mean = np.array([p.mean for p in PARAMETERS])
    sd = np.array([p.sd for p in PARAMETERS])
    cov = _correlation() * np.outer(sd, sd)
    return rng.multivariate_normal(mean, cov, size=n, method="cholesky")


@functools.lru_cache(maxsize=1)
def _generator() -> _FaceGenerator:
    return _FaceGenerator()


def _top_pca(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Leading ``k`` principal axes (D, k) and variances (k,) of centred rows ``x`` (n, D), float32.

    Randomized SVD (Halko, Martinsson & Tropp, SIAM Review 53, 2011): scikit-learn's range
    finder takes a few passes over x instead of an n x n eigenproblem. The last two steps are
    ours rather than ``randomized_svd``'s, which would take them in x's float32: its axes and
    variances then stray ~1e-6 (relative) from the exact SVD's, up to 1.5e-4 mm on simulated
    faces, and a float64 copy of x would double the build's memory and time. In float64 (the
    range's orthonormal basis, the small SVD) they stay within ~4e-8 of the exact SVD.
    """
    q = randomized_range_finder(x, size=k + 30, n_iter=2, power_iteration_normalizer="QR", random_state=_SEED)
    q = np.linalg.qr(q.astype(np.float64))[0].astype(x.dtype)
    b = (q.T @ x).astype(np.float64)  # (k + 30, D): x projected on the range found
    _, s, vt = np.linalg.svd(b, full_matrices=False)
    return vt[:k].T, s[:k] ** 2 / (x.shape[0] - 1)


@functools.lru_cache(maxsize=1)
def _decomposition() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean (V, 3), basis (3V, K_max) and variances (K_max,) of the sampled faces."""
    gen = _generator()
    rng = np.random.default_rng(_SEED)
    params = sample_parameters(_N_SAMPLES, rng)
    generic = rng.normal(0.0, _GENERIC_SD, size=(_N_SAMPLES, gen.n_generic))
    mean_face = gen.faces(_param_matrix(_mean_params()))[0]
    # float32 halves memory and time; the coordinates' spread (mm) is far above its precision.
    x = np.empty((_N_SAMPLES, 3 * len(gen.chart)), dtype=np.float32)
    for lo in range(0, _N_SAMPLES, _BATCH):  # batches keep the (n, V) temporaries small
        hi = min(lo + _BATCH, _N_SAMPLES)
        x[lo:hi] = align_to(gen.faces(params[lo:hi], generic[lo:hi]), mean_face).reshape(hi - lo, -1)
    mu = x.mean(axis=0, dtype=np.float64)
    x -= mu.astype(np.float32)
    basis, evals = _top_pca(x, MAX_COMPONENTS)
    # A fixed sign per component (largest coordinate positive) keeps the basis reproducible.
    basis *= np.sign(basis[np.abs(basis).argmax(axis=0), np.arange(basis.shape[1])])
    return mu.reshape(-1, 3), basis, evals


@functools.lru_cache(maxsize=8)
def builtin_shape_model(n_components: int = 40) -> ShapeModel:
    """The built-in face shape space: a parametric face on Farkas' norms and its PCA.

    ``n_components`` (1 to :data:`MAX_COMPONENTS`) leading components are kept; fewer are a
    prefix of more. Deterministic and made without data files; the first call takes a few
    seconds, later ones are cached. The arrays are read-only (the model is shared).
    """
    if not 1 <= int(n_components) <= MAX_COMPONENTS:
        raise GenofaceError(f"n_components must be between 1 and {MAX_COMPONENTS}, got {n_components}")
    # The products here are many and mid-sized: threaded BLAS gains little on them, and its
    # spinning threads slow the build several-fold when other processes hold the cores.
    with threadpool_limits(limits=1, user_api="blas"):
        gen = _generator()
        mean, basis, evals = _decomposition()
    basis = np.ascontiguousarray(basis[:, : int(n_components)])
    evals = evals[: int(n_components)].copy()
    regions = segment_regions(mean, gen.landmarks)
    triangles = gen.triangles.copy()
    for a in (mean, basis, evals, regions, triangles):
        a.setflags(write=False)
    log.debug(
        "built-in face: %d vertices, %d triangles, %d components",
        len(mean),
        len(triangles),
        n_components,
    )
    return ShapeModel(
        name="builtin",
        mean=mean,
        basis=basis,
        eigenvalues=evals,
        triangles=triangles,
        regions=regions,
        landmarks=dict(gen.landmarks),
        description=_DESCRIPTION,
    )
