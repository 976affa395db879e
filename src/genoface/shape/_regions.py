"""Facial regions from landmarks: each vertex goes to the region of its nearest seed point.

Seeds are placed from the standard landmarks (see :data:`LANDMARK_NAMES`), so the same rule
segments any template that carries them: the built-in face and the Surrey Face Model alike.
Distances are measured in the frontal (x, y) plane, where regions are conventionally drawn;
vertices farther than ``max_distance`` mm from every seed (ears, neck, sides) get -1.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from genoface.shape._model import REGION_NAMES


def _seeds(lm: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    p = {k: np.asarray(v, dtype=float)[:2] for k, v in lm.items()}
    mid = lambda a, b, t=0.5: p[a] + t * (p[b] - p[a])  # noqa: E731
    eye_l, eye_r = mid("endocanthion_l", "exocanthion_l"), mid("endocanthion_r", "exocanthion_r")
    eye_w = np.linalg.norm(p["exocanthion_l"] - p["endocanthion_l"])
    face_h = p["nasion"][1] - p["gnathion"][1]
    up = np.array([0.0, 1.0])
    side = np.array([1.0, 0.0])
    mouth_c = mid("labiale_superius", "labiale_inferius")
    seeds: list[tuple[str, np.ndarray]] = []
    # Nose: the dorsum from nasion to tip, the alae and the columella.
    for t in np.linspace(0.25, 1.0, 5):
        seeds.append(("nose", mid("nasion", "pronasale", t)))
    seeds += [("nose", p["alare_l"]), ("nose", p["alare_r"]), ("nose", mid("pronasale", "subnasale"))]
    # Eyes: the palpebral fissures and the orbit between fissure and brow.
    for e, br, ex in ((eye_l, p["brow_l"], p["exocanthion_l"]), (eye_r, p["brow_r"], p["exocanthion_r"])):
        seeds += [("eyes", e), ("eyes", e + 0.45 * (br - e)), ("eyes", ex), ("eyes", e - 0.25 * eye_w * up)]
    seeds += [("eyes", p["endocanthion_l"]), ("eyes", p["endocanthion_r"])]
    # Mouth: lips, corners and philtrum.
    seeds += [("mouth", p[n]) for n in ("cheilion_l", "cheilion_r", "labiale_superius", "labiale_inferius")]
    seeds += [("mouth", mouth_c), ("mouth", mid("subnasale", "labiale_superius"))]
    seeds += [("mouth", mid("cheilion_l", "labiale_superius")), ("mouth", mid("cheilion_r", "labiale_superius"))]
    # Chin: from below the lower lip to gnathion, and the chin's sides.
    for t in (0.45, 0.75, 1.0):
        seeds.append(("chin", mid("labiale_inferius", "gnathion", t)))
    for c in ("cheilion_l", "cheilion_r"):
        seeds.append(("chin", p[c] + 0.6 * (p["gnathion"] - p[c]) * np.array([0.8, 1.0])))
    # Cheeks: below and lateral to the eyes, beside nose and mouth.
    for s in (1.0, -1.0):
        ex = p["exocanthion_l"] if s > 0 else p["exocanthion_r"]
        al = p["alare_l"] if s > 0 else p["alare_r"]
        ch = p["cheilion_l"] if s > 0 else p["cheilion_r"]
        seeds += [
            ("cheeks", np.array([ex[0], al[1] + 0.15 * face_h])),
            ("cheeks", np.array([ex[0] + s * 0.3 * eye_w, p["subnasale"][1]])),
            ("cheeks", np.array([(al[0] + ex[0]) / 2, al[1]])),
            ("cheeks", ch + s * 0.8 * eye_w * side),
            ("cheeks", np.array([ex[0] + s * 0.2 * eye_w, ch[1] - 0.05 * face_h])),
        ]
    # Forehead: above the brows, across the face.
    brow_y = (p["brow_l"][1] + p["brow_r"][1]) / 2
    for dy in (0.2, 0.45, 0.7):
        for x in (-1.2, -0.6, 0.0, 0.6, 1.2):
            seeds.append(("forehead", np.array([x * eye_w * 1.5, brow_y + dy * face_h])))
    return seeds


def segment_regions(mean: np.ndarray, landmarks: dict[str, int], max_distance: float = 30.0) -> np.ndarray:
    """Label each vertex of ``mean`` (V, 3) with a region index (see :data:`REGION_NAMES`), or -1."""
    lm = {k: mean[i] for k, i in landmarks.items()}
    seeds = _seeds(lm)
    names = np.array([REGION_NAMES.index(n) for n, _ in seeds], dtype=np.int8)
    points = np.stack([s for _, s in seeds])
    dist, idx = cKDTree(points).query(mean[:, :2])
    labels = names[idx]
    # Vertices behind the face plane (sides of the head) belong to no region.
    depth_cut = mean[landmarks["pronasale"], 2] - 60.0
    labels[(dist > max_distance) | (mean[:, 2] < depth_cut)] = -1
    return labels
