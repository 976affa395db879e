"""Can Difface's genome -> face path memorize a tiny cohort? (A check of learning capacity,
not a benchmark of speed.)

    .venv/bin/python bench/difface_memorization.py                  # latent_weight 1 and 0
    .venv/bin/python bench/difface_memorization.py --weights 1 0.3 0

Fits difface on 48 simulated people (built-in face) with 150 + 200 epochs and no SNP or
covariate drop, then predicts those same people: the point prediction's mean vertex error
against their own faces, beside the mean face's and the autoencoder's reconstruction error.
``latent_weight`` 0 is the published CLIP-only alignment; 1 also fits the latent head from the
genome embedding in stage 1 (the default). About 3 minutes per weight on 2 cores.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from genoface.models import make_model
from genoface.shape import builtin_shape_model
from genoface.simulate import simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=float, nargs="+", default=[1.0, 0.0])
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cohort = simulate("realistic", n=48, seed=args.seed, shape_model=builtin_shape_model()).cohort
    mean_error = np.linalg.norm(cohort.faces - cohort.faces.mean(axis=0), axis=2).mean()
    print(f"48 simulated people; mean face {mean_error:.2f} mm from their faces")
    for weight in args.weights:
        t = time.perf_counter()
        model = make_model(
            "difface", latent_weight=weight, epochs=150, prior_epochs=200, snp_drop=0.0, cov_drop=0.0,
            batch_size=16, n_snps=200,
        ).fit(cohort)  # fmt: skip
        error = np.linalg.norm(model.predict(cohort) - cohort.faces, axis=2).mean()
        recon = model.history_["reconstruction_l1_mm"][-1]
        print(
            f"latent_weight {weight:g}: predictions {error:.2f} mm from the people's own faces "
            f"(autoencoder L1 {recon:.2f} mm), {time.perf_counter() - t:.0f} s"
        )


if __name__ == "__main__":
    main()
