"""Benchmark `genoface match` at 10,000 genomes x 10,000 faces, keeping the top k per genome.

    .venv/bin/python bench/bench_match.py                         # 10,000 x 10,000, lippert, top 10
    .venv/bin/python bench/bench_match.py --n 2000 --model bayes  # a smaller run, another model

A cohort of --train + --n people is simulated once (realistic preset, built-in face; simulated);
the model is trained on the first --train people, and the other --n are the gallery: their bed
and their faces (faces.npy). Each step runs in its own child process, so its peak RSS (wait4) is
its own:

- match: `match_to_file(..., top=k)`, what `genoface match --top k` runs: genomes are scored in
  blocks of 256 against every face, and only each block's ranked top k is written;
- full: the peer, the whole n x n score matrix held at once and ranked (what an evaluation
  does on its test people), in the same run.

Printed: seconds and peak GB of each, their ratios, the own-face rank of the genomes (top 1 and
median, which the two must agree on) and the size of ranks.tsv. --json writes
bench/results/bench_match.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _child import environment, run_json_child

_PREPARE = r"""
import json, sys, time
import numpy as np
from genoface.cohort import Cohort
from genoface.models import make_model
from genoface.simulate import simulate
n_train, n, model_name, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
t = time.perf_counter()
cohort = simulate("realistic", n=n_train + n, seed=1).cohort
order = np.random.default_rng(0).permutation(cohort.n_samples)  # people are ordered by population
cohort.subset(order[n_train:]).save(f"{work}/gallery", genotype_format="bed", faces_format="npy")
simulate_s = time.perf_counter() - t
t = time.perf_counter()
make_model(model_name).fit(cohort.subset(order[:n_train])).save(f"{work}/model")
print(json.dumps({"simulate_s": simulate_s, "fit_s": time.perf_counter() - t}))
"""

_MATCH = r"""
import json, sys, time
import numpy as np
step, work, top = sys.argv[1], sys.argv[2], int(sys.argv[3])
from genoface.cohort import Cohort
Cohort.load(f"{work}/gallery")  # the cache is built before the clock starts (done once per cohort)
t = time.perf_counter()
if step == "match":
    from genoface.usecases.match import match_to_file
    own, _ = match_to_file(f"{work}/model", f"{work}/gallery/genotypes.bed", f"{work}/gallery", f"{work}/ranks.tsv", top=top)
    ranks = own.to_numpy()
else:
    from genoface.models import FaceModel
    from genoface.evaluate import ranks as true_face_ranks
    gallery = Cohort.load(f"{work}/gallery")
    model = FaceModel.load(f"{work}/model")
    scores = model.score_matrix(gallery, np.asarray(gallery.faces))
    ranks = true_face_ranks(scores)
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "top1": float(np.mean(ranks == 1)), "median_rank": float(np.median(ranks))}))
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000, help="genomes and faces in the gallery")
    ap.add_argument("--train", type=int, default=2_000, help="people the model is trained on")
    ap.add_argument("--model", default="lippert")
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--json", action="store_true", help="write bench/results/bench_match.json")
    args = ap.parse_args(argv)
    print(f"genoface match, {args.n:,} genomes x {args.n:,} faces, {args.model}, top {args.top} (simulated)")
    with tempfile.TemporaryDirectory(prefix="bench_match_") as work:
        prep = subprocess.run(
            [sys.executable, "-c", _PREPARE, str(args.train), str(args.n), args.model, work],
            check=True,
            capture_output=True,
            text=True,
        )
        prepared = json.loads(prep.stdout.strip().splitlines()[-1])
        print(
            f"  simulate {prepared['simulate_s']:.0f} s, fit {args.model} on {args.train:,}: {prepared['fit_s']:.0f} s"
        )
        runs = {step: run_json_child(_MATCH, step, work, str(args.top)) for step in ("match", "full")}
        runs["match"]["ranks_tsv_mb"] = (Path(work) / "ranks.tsv").stat().st_size / 1e6
    for step, r in runs.items():
        print(
            f"  {step:<6} {r['seconds']:7.1f} s  peak {r['peak_gb']:.2f} GB  "
            f"top1 {r['top1']:.4f}  median rank {r['median_rank']:g}"
        )
    m, f = runs["match"], runs["full"]
    print(f"  match / full: time x{m['seconds'] / f['seconds']:.2f}, peak memory x{m['peak_gb'] / f['peak_gb']:.2f}")
    print(f"  ranks.tsv with the top {args.top}: {m['ranks_tsv_mb']:.1f} MB")
    if args.json:
        path = Path(__file__).parent / "results" / "bench_match.json"
        path.parent.mkdir(exist_ok=True)
        report = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "environment": environment()}
        path.write_text(json.dumps(report | {"args": vars(args), "prepare": prepared, "runs": runs}, indent=1) + "\n")
        print(f"figures in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
