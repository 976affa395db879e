"""Registration of a raw 3D scan onto the template: pose, non-rigid fit, projection, quality.

The steps follow the field's practice (MeshMonk; Amberg et al. 2007):

1. **Pose.** With landmarks, the similarity transform (Umeyama) taking the template's landmarks
   onto the scan's; without, the template's principal axes put on the scan's in each of the 4
   proper orientations, small turns around each, and the best trimmed-ICP fit kept. Either way a
   trimmed ICP refines the pose, so that holes, hair and the neck do not pull it.
2. **Shape prior** (when the template carries a shape model): the model fitted to the scan,
   MAP coefficients on point-to-plane distances (closest scan vertex, its vertex normal) plus the
   landmarks, alternating with the pose.
   The surface alone cannot say where a vertex belongs along it; the model's correlations can.
3. **Shape.** trimesh's optimal-step non-rigid ICP (``registration.nricp_amberg``) deforms the
   posed template (or the fitted model face) onto the scan, from stiff to supple, with the
   landmarks as extra terms and matches farther than a threshold (holes, the neck) given no weight.
4. **Projection** (off by default). Vertices within ``project_within_mm`` of the scan surface
   move onto it; the others (over holes) keep the smooth fit. On simulated scans it put the
   scan's noise back into the face and raised the error.
5. **Quality.** Distances from the fitted face to the scan surface: mean, 95th percentile,
   and the share of template vertices with no scan surface within 2 mm. A scan fails when
   too much of the template found no surface or the fit is too far off.

The registered face is returned in millimetres, rigidly aligned (rotation and translation, no
scale) onto the template, so the person's own size is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from genoface.core.errors import GenofaceError
from genoface.shape._procrustes import rigid_align

#: Millimetres per unit of each length unit a scan may come in.
UNIT_MM: dict[str, float] = {"mm": 1.0, "cm": 10.0, "m": 1000.0}

#: Optimal-step NICP schedule: (stiffness, landmark weight, normal weight, max iterations).
#: Stiffness is relative to edges of unit length in trimesh's normalized frame.
DEFAULT_SCHEDULE: tuple[tuple[float, float, float, int], ...] = (
    (0.1, 10.0, 0.5, 10),
    (0.03, 5.0, 0.5, 10),
    (0.01, 2.5, 0.5, 10),
    (0.005, 1.0, 0.5, 10),
)


@dataclass(frozen=True)
class Template:
    """The template faces are registered to: its mesh (mm), named landmark vertices (may be
    empty) and, optionally, a shape model on it (``basis``: (3V, K) components scaled to one
    standard deviation, mm), which gives the fit a statistical prior before the non-rigid step."""

    vertices: np.ndarray
    triangles: np.ndarray
    landmarks: dict[str, int] = field(default_factory=dict)
    basis: np.ndarray | None = None

    @classmethod
    def of_shape_model(cls, model, landmarks: dict[str, int] | None = None) -> Template:
        """The mean face of a :class:`~genoface.shape.ShapeModel`, its landmarks and its prior."""
        return cls(model.mean, model.triangles, dict(landmarks or model.landmarks), model.scaled_basis)


@dataclass(frozen=True)
class RegistrationOptions:
    """Settings of :func:`register_scan`; the defaults suit faces in millimetres.

    Attributes
    ----------
    schedule : the non-rigid fit's stiffness schedule, see :data:`DEFAULT_SCHEDULE`.
    outlier_mm : matches farther than this get no weight in the non-rigid fit.
    trim : share of template points kept (the closest) in each trimmed-ICP step.
    project_within_mm : vertices this close to the scan surface are moved onto it (0: never).
    model_iterations, model_noise_mm, model_landmark_weight : the shape-model fit (where the
        template has a model): its rounds, the residual's standard deviation (how far the prior
        pulls), and the weight of a landmark against a surface point.
    near_mm : the QC's "scan surface within" distance.
    max_far_share, max_mean_mm : a scan fails when more template vertices than this have no
        scan surface within ``near_mm``, or the mean distance exceeds this.
    """

    schedule: tuple[tuple[float, float, float, int], ...] = DEFAULT_SCHEDULE
    outlier_mm: float = 5.0
    trim: float = 0.8
    project_within_mm: float = 0.0
    near_mm: float = 2.0
    max_far_share: float = 0.25
    max_mean_mm: float = 1.5
    model_iterations: int = 40
    model_noise_mm: float = 3.0
    model_landmark_weight: float = 10.0


@dataclass(frozen=True)
class Registration:
    """One registered scan and its quality.

    Attributes
    ----------
    vertices : (V, 3) the registered face, template vertex order, mm, rigidly aligned to the template.
    scan_to_output : (4, 4) rigid transform taking scan points (mm) into the frame of ``vertices``.
    distance_mm : (V,) distance from each registered vertex to the scan surface.
    mean_mm, p95_mm : mean and 95th percentile of ``distance_mm``.
    far_share : share of vertices with no scan surface within ``near_mm``.
    failed : whether the scan fails quality control; ``reason`` says why.
    """

    vertices: np.ndarray
    scan_to_output: np.ndarray
    distance_mm: np.ndarray
    mean_mm: float
    p95_mm: float
    far_share: float
    failed: bool
    reason: str = ""

    def qc(self) -> dict[str, float | bool | str]:
        return {
            "mean_mm": self.mean_mm,
            "p95_mm": self.p95_mm,
            "far_share": self.far_share,
            "failed": self.failed,
            "reason": self.reason,
        }


def register_scan(
    scan_vertices: np.ndarray,
    scan_triangles: np.ndarray,
    template: Template,
    scan_landmarks: dict[str, np.ndarray] | None = None,
    options: RegistrationOptions | None = None,
) -> Registration:
    """Register a scan (vertices in mm, triangles) onto ``template``; see the module docstring.

    ``scan_landmarks`` maps landmark names to positions on the scan (mm); the names the template
    also has are used (at least 3 are needed).
    """
    import trimesh

    options = options or RegistrationOptions()
    scan = trimesh.Trimesh(np.asarray(scan_vertices, dtype=np.float64), np.asarray(scan_triangles), process=False)
    if len(scan.faces) == 0:
        raise GenofaceError("the scan has no triangles; registration needs a surface mesh")
    pairs = _landmark_pairs(template, scan_landmarks)
    if pairs is None:
        pose = _pose_without_landmarks(template, scan, options)
    else:
        pose = _similarity(template.vertices[pairs[0]], pairs[1])
    pose = _trimmed_icp(template.vertices, scan, pose, options.trim)
    if template.basis is None:
        posed = _apply(pose, template.vertices)
    else:
        posed = _fit_shape_model(template, scan, pose, pairs, options)
    fitted = _nonrigid(posed, template, scan, pairs, options)
    fitted = _project(fitted, scan, options.project_within_mm)
    _, rotation, translation, _ = rigid_align(fitted, template.vertices)
    to_output = np.eye(4)
    to_output[:3, :3], to_output[:3, 3] = rotation, translation
    return _quality(fitted, to_output, scan, options)


def _landmark_pairs(template: Template, scan_landmarks: dict[str, np.ndarray] | None):
    """(template vertex ids, scan positions) of the landmarks both sides have, or None."""
    if not scan_landmarks:
        return None
    names = [n for n in scan_landmarks if n in template.landmarks]
    if len(names) < 3:
        raise GenofaceError(
            f"the scan's landmarks share {len(names)} names with the template's (need at least 3): "
            f"template has {', '.join(sorted(template.landmarks)) or 'none'}"
        )
    ids = np.array([template.landmarks[n] for n in names])
    return ids, np.array([scan_landmarks[n] for n in names], dtype=np.float64)


def _similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(4, 4) similarity transform (Umeyama) taking ``source`` points onto ``target``."""
    _, rotation, translation, scale = rigid_align(source, target, scale=True)
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = scale * rotation, translation
    return pose


def _apply(pose: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ pose[:3, :3].T + pose[:3, 3]


def _subsample(points: np.ndarray, n: int = 1500) -> np.ndarray:
    step = max(1, len(points) // n)
    return points[::step]


def _trimmed_icp(
    template_vertices: np.ndarray, scan, pose: np.ndarray, trim: float, n_iter: int = 30, eps: float = 0.0
) -> np.ndarray:
    """Refine a similarity ``pose`` by ICP on the closest ``trim`` share of template points.

    Hand-written because trimesh's ``registration.icp`` keeps every match: here the farthest
    matches (template over a hole, scan's neck and hair) are left out at each step. ``eps`` > 0
    takes approximate neighbours (within 1 + eps of the nearest distance).
    """
    source = _subsample(template_vertices)
    for _ in range(n_iter):
        moved = _apply(pose, source)
        distance, index = scan.kdtree.query(moved, eps=eps)
        keep = distance <= np.quantile(distance, trim)
        new_pose = _similarity(source[keep], scan.vertices[index[keep]])
        step = np.abs(_apply(new_pose, source) - moved).max()
        pose = new_pose
        if step < 1e-3:
            break
    return pose


def _trimmed_rms(template_vertices: np.ndarray, scan, pose: np.ndarray, trim: float) -> float:
    distance, _ = scan.kdtree.query(_apply(pose, _subsample(template_vertices)))
    kept = np.sort(distance)[: max(1, int(trim * len(distance)))]
    return float(np.sqrt(np.mean(kept**2)))


def _principal_frame(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    centre = points.mean(axis=0)
    _, _, vt = np.linalg.svd(points - centre, full_matrices=False)
    if np.linalg.det(vt) < 0:
        vt[2] *= -1
    return centre, vt


def _pose_without_landmarks(template: Template, scan, options: RegistrationOptions) -> np.ndarray:
    """The best trimmed-ICP pose over restarts from the principal axes (4 proper flips x turns)."""
    from scipy.spatial.transform import Rotation

    t_centre, t_axes = _principal_frame(template.vertices)
    s_centre, s_axes = _principal_frame(np.asarray(scan.vertices))
    # Scale: the template's spread against the scan's, which the neck and hair inflate a little.
    scale = np.sqrt(_spread(template.vertices) / _spread(scan.vertices))
    flips = [np.diag(d) for d in ([1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1])]
    turns = [Rotation.from_rotvec(np.radians(a) * np.eye(3)[k]).as_matrix() for k in range(3) for a in (-30, 30)]
    best, best_rms = None, np.inf
    for flip in flips:
        for turn in [np.eye(3), *turns]:
            rotation = s_axes.T @ turn @ flip @ t_axes
            pose = np.eye(4)
            pose[:3, :3] = scale * rotation
            pose[:3, 3] = s_centre - scale * rotation @ t_centre
            # Approximate neighbours: a kd-tree's exact search is slow (about 25x here) for points
            # far off a surface, as most restarts are; the best pose is refined exactly after.
            pose = _trimmed_icp(template.vertices, scan, pose, options.trim, n_iter=15, eps=0.5)
            rms = _trimmed_rms(template.vertices, scan, pose, options.trim)
            if rms < best_rms:
                best, best_rms = pose, rms
    return best


def _spread(points: np.ndarray) -> float:
    points = np.asarray(points)
    return float(((points - points.mean(axis=0)) ** 2).sum(axis=1).mean())


def _fit_shape_model(template: Template, scan, pose: np.ndarray, pairs, options: RegistrationOptions) -> np.ndarray:
    """The template's shape model fitted to the scan (MAP, standard normal prior on the
    coefficients); the fitted face in the scan's frame.

    Alternates closest points, the similarity pose and the coefficients. The coefficients fit
    point-to-plane distances (along the scan's normal at each match), which leave sliding along
    the surface to the model and converge in far fewer rounds than point-to-point distances.
    The matches are the closest scan vertices with their normals: the plane through a vertex
    stands for the surface, as in point-to-plane ICP, at a sixth of the cost of exact closest
    points on the triangles. Matches beyond the trim or ``outlier_mm`` are left out.
    """
    n, k = template.basis.shape[0] // 3, template.basis.shape[1]
    basis = template.basis.reshape(n, 3, k)
    shape = template.vertices
    scan_normals = np.asarray(scan.vertex_normals)
    for _ in range(options.model_iterations):
        distance, index = scan.kdtree.query(_apply(pose, shape))
        closest = np.asarray(scan.vertices)[index]
        keep = distance <= min(options.outlier_mm, np.quantile(distance, options.trim))
        pose = _similarity(shape[keep], closest[keep])
        inverse = np.linalg.inv(pose)
        scale = np.cbrt(np.linalg.det(pose[:3, :3]))
        normals = scan_normals[index[keep]] @ (pose[:3, :3] / scale)  # into the model's frame
        offsets = _apply(inverse, closest[keep]) - template.vertices[keep]
        rows = [np.einsum("vi,vik->vk", normals, basis[keep])]
        target = [np.einsum("vi,vi->v", normals, offsets)]
        if pairs is not None:
            weight = np.sqrt(options.model_landmark_weight)
            rows.append(weight * basis[pairs[0]].reshape(-1, k))
            target.append(weight * (_apply(inverse, pairs[1]) - template.vertices[pairs[0]]).ravel())
        a, r = np.vstack(rows), np.concatenate(target)
        coefficients = np.linalg.solve(a.T @ a + options.model_noise_mm**2 * np.eye(k), a.T @ r)
        shape = template.vertices + (basis @ coefficients)
    return _apply(pose, shape)


def _nonrigid(posed: np.ndarray, template: Template, scan, pairs, options: RegistrationOptions) -> np.ndarray:
    """trimesh's optimal-step NICP from the posed template onto the scan (copies: it normalizes in place)."""
    import trimesh
    from trimesh.registration import nricp_amberg

    source = trimesh.Trimesh(posed.copy(), template.triangles, process=False)
    target = trimesh.Trimesh(np.array(scan.vertices), np.array(scan.faces), process=False)
    threshold = options.outlier_mm / source.scale  # nricp works where the source spans its unit box
    landmarks = (None, None) if pairs is None else pairs
    schedule = [list(step) for step in options.schedule]
    if pairs is None:
        schedule = [[ws, 0.0, wn, it] for ws, _, wn, it in schedule]
    return np.asarray(
        nricp_amberg(
            source, target, source_landmarks=landmarks[0], target_positions=landmarks[1],
            steps=schedule, distance_threshold=threshold,
        ),
        dtype=np.float64,
    )  # fmt: skip


def _project(fitted: np.ndarray, scan, within_mm: float) -> np.ndarray:
    """Vertices within ``within_mm`` of the scan surface moved onto it; the rest kept."""
    if within_mm <= 0:
        return fitted
    closest, distance, _ = scan.nearest.on_surface(fitted)
    near = distance <= within_mm
    out = fitted.copy()
    out[near] = closest[near]
    return out


def _quality(fitted: np.ndarray, to_output: np.ndarray, scan, options: RegistrationOptions) -> Registration:
    """Distances from the fitted face to the scan surface, and the pass/fail verdict.

    Measured in the scan's frame, on the surface index the fit already built: a rigid motion
    changes no distance, so the face is moved into the template's frame only for the result.
    """
    _, distance, _ = scan.nearest.on_surface(fitted)
    mean, p95 = float(distance.mean()), float(np.quantile(distance, 0.95))
    far = float((distance > options.near_mm).mean())
    reasons = []
    if far > options.max_far_share:
        reasons.append(f"{far:.0%} of the template has no scan surface within {options.near_mm:g} mm")
    if mean > options.max_mean_mm:
        reasons.append(f"mean distance {mean:.2f} mm exceeds {options.max_mean_mm:g} mm")
    vertices = _apply(to_output, fitted)
    return Registration(vertices, to_output, distance, mean, p95, far, bool(reasons), "; ".join(reasons))
