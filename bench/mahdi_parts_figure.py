"""Draw ``mahdi``'s facial parts: levels 1 to 3 of the hierarchical spectral clustering of vertex
correlations, learnt from a simulated cohort (built-in face or the Surrey Face Model).

    .venv/bin/python bench/mahdi_parts_figure.py --out docs/images/mahdi_parts.png
    .venv/bin/python bench/mahdi_parts_figure.py --shape-model ../shared/data/sfm --out parts_sfm.png

Simulated cohort (realistic preset, 600 people, seed 1); the parts are those ``mahdi`` fits with
its defaults (30 shape components, 3 levels).
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np

from genoface.models.mahdi import facial_parts
from genoface.shape import ShapePCA, load_shape_model, render_faces
from genoface.simulate import simulate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="PNG to write")
    ap.add_argument("--shape-model", default=None, help="Surrey Face Model folder (default: the built-in face)")
    ap.add_argument("--levels", type=int, default=3)
    args = ap.parse_args()
    shape = load_shape_model(args.shape_model)
    with tempfile.TemporaryDirectory() as tmp:
        cohort = simulate("realistic", n=600, seed=1, out=f"{tmp}/c", shape_model=shape).cohort
        faces = np.asarray(cohort.faces, dtype=np.float64)
    pca = ShapePCA(30).fit(faces)
    parts = facial_parts(pca.components_, pca.explained_variance_, shape.triangles, args.levels)
    values = []
    for level in range(1, args.levels + 1):
        label = np.zeros(len(shape.mean))
        for index, k in enumerate(np.flatnonzero(parts.level == level)):
            label[parts.members[k]] = index
        values.append(label)
    titles = [f"level {lv}: {int((parts.level == lv).sum())} parts" for lv in range(1, args.levels + 1)]
    render_faces(args.out, [shape.mean] * args.levels, shape.triangles, values=values, titles=titles,
                 views=("front", "profile"), cmap="tab10", vmin=0, vmax=9)  # fmt: skip
    print(f"written: {args.out} ({parts.n_parts} parts: {', '.join(parts.names())})")


if __name__ == "__main__":
    main()
