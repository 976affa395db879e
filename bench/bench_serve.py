"""Load test of `genoface serve` on loopback: prediction requests from concurrent clients, p50 and
p95 latency per model, beside the same prediction called in process (the floor the server adds to).

    .venv/bin/python bench/bench_serve.py                   # 50 requests, 10 clients, lippert and difface
    .venv/bin/python bench/bench_serve.py --requests 200 --clients 20
    .venv/bin/python bench/bench_serve.py --json            # also bench/results/bench_serve.json
    .venv/bin/python bench/bench_serve.py --processes 2     # one server set-up only

Targets (issue 15): p95 under 1 s for a linear model (`lippert`) and under 3 s for `difface`, on
2 cores.

The cohort (not timed): `genoface simulate` (realistic preset, built-in face, seed 1) of --n
people; `lippert` trained with its defaults and `difface` with a short schedule (2 + 2 epochs: a
prediction's cost does not depend on how long the model trained). The server is `genoface serve`
in a child process (2 workers per process; --workers, --queue), run once per --processes value
(default: 1 process, the serve default, then 2, one per core). Each request uploads
one person's 23andMe-format raw-data file (made from a simulated person; a different person per
request, round robin) to /api/predict, as the page does, and is checked: status 200 and a face of
the template's size. Latency is from sending the request to the whole answer read (httpx, one
client per thread). The in-process figures: `FaceModel.predict` of one person already read, the
median of 20 calls; and the server's own work on one upload without HTTP (`ServerState.predict`
and the JSON encoded, one request at a time), the median of 10 calls.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from _child import environment, simulate_cohort

TARGET_P95_S = {"lippert": 1.0, "difface": 3.0}
DIFFACE_QUICK = {"epochs": 2, "prior_epochs": 2}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(tmp: Path, n: int) -> tuple[Path, list[bytes], dict]:
    """Simulate, train both models (quick difface), write one 23andMe file per person."""
    from genoface.cohort import Cohort
    from genoface.io import write_23andme
    from genoface.models import make_model

    simulate_cohort(n, tmp / "cohort")
    cohort = Cohort.load(tmp / "cohort")
    for name, params in (("lippert", {}), ("difface", DIFFACE_QUICK)):
        make_model(name, **params).fit(cohort).save(tmp / name)
    files = []
    for row in range(min(n, 50)):
        male = cohort.covariates["sex"].iat[row] == "M"
        write_23andme(tmp / "person.txt", cohort.variants, np.asarray(cohort.genotypes[row]), male=male)
        files.append((tmp / "person.txt").read_bytes())
    return tmp, files, {"n_vertices": cohort.n_vertices}


def in_process_ms(folder: Path, name: str) -> float:
    """Median ms of one person's `predict` called directly (the model loaded, the genome read)."""
    from genoface.cohort import Cohort
    from genoface.models import FaceModel

    model, person = FaceModel.load(folder / name), Cohort.load(folder / "cohort").subset(np.arange(1))
    model.predict(person)
    times = []
    for _ in range(20):
        t = time.perf_counter()
        model.predict(person)
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times))


def handler_ms(folder: Path, name: str, upload: bytes) -> float:
    """Median ms of the server's own work on one upload, one request at a time, without HTTP:
    `ServerState.predict` (save the upload, read it, match its alleles, predict, the traits)
    and the JSON answer encoded."""
    import io

    from fastapi import UploadFile
    from fastapi.responses import JSONResponse

    from genoface.server import GenomeRequest, ServerSettings, create_app

    state = create_app(ServerSettings([folder / name])).state.genoface
    model, options = state.model(name), {"age": None, "sex": None, "bmi": None, "n_faces": 1}
    times = []
    for _ in range(11):  # the first warms up
        request = GenomeRequest(UploadFile(file=io.BytesIO(upload), filename="person.txt"), None, None)
        t = time.perf_counter()
        JSONResponse(state.predict(model, request, options, "json"))
        times.append(time.perf_counter() - t)
    state.pool.close()
    return 1000 * float(np.median(times[1:]))


def start_server(folder: Path, port: int, workers: int, queue: int, processes: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "genoface", "serve", "--model", str(folder / "lippert"), "--model"]
    cmd += [str(folder / "difface"), "--port", str(port), "--workers", str(workers), "--queue", str(queue)]
    cmd += ["--processes", str(processes)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/models", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise SystemExit(f"genoface serve exited: {proc.stderr.read().decode()[-2000:]}")
    proc.kill()
    raise SystemExit("genoface serve did not answer within 2 minutes")


def load(port: int, model: str, files: list[bytes], requests: int, clients: int, n_vertices: int) -> dict:
    """``requests`` predictions from ``clients`` threads; latencies (s) and how many failed."""

    def one(i: int) -> tuple[float, bool]:
        with httpx.Client(timeout=120) as client:
            t = time.perf_counter()
            r = client.post(
                f"http://127.0.0.1:{port}/api/predict",
                data={"model": model},
                files={"file": ("person.txt", files[i % len(files)], "text/plain")},
            )
            seconds = time.perf_counter() - t
        ok = r.status_code == 200 and len(r.json()["faces"][0]) == 3 * n_vertices
        return seconds, ok

    t = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, range(requests)))
    wall = time.perf_counter() - t
    lat = np.array([s for s, _ in results])
    return {
        "requests": requests,
        "clients": clients,
        "failed": int(sum(not ok for _, ok in results)),
        "p50_s": float(np.percentile(lat, 50)),
        "p95_s": float(np.percentile(lat, 95)),
        "max_s": float(lat.max()),
        "throughput_per_s": requests / wall,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=600, help="simulated people the models train on")
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--queue", type=int, default=64, help="the server's queue (above requests in flight: no 503)")
    ap.add_argument(
        "--processes",
        default="1,2",
        help="server processes (genoface serve --processes), comma-separated: one run each",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    print(f"genoface serve load test: {args.requests} requests from {args.clients} clients per model", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder, files, info = prepare(Path(tmp), args.n)
        direct = {name: in_process_ms(folder, name) for name in TARGET_P95_S}
        handler = {name: handler_ms(folder, name, files[0]) for name in TARGET_P95_S}
        runs = {}
        for processes in (int(p) for p in args.processes.split(",")):
            port = _free_port()
            server = start_server(folder, port, args.workers, args.queue, processes)
            try:
                for m in TARGET_P95_S:
                    runs[f"{m}, {processes} process{'es' if processes > 1 else ''}"] = load(
                        port, m, files, args.requests, args.clients, info["n_vertices"]
                    ) | {"model": m, "processes": processes}
            finally:
                server.terminate()
                server.wait(30)
    for label, r in runs.items():
        name = r["model"]
        r["in_process_ms"] = direct[name]
        r["handler_ms"] = handler[name]
        r["p50_over_in_process"] = 1000 * r["p50_s"] / direct[name]
        r["target_p95_s"] = TARGET_P95_S[name]
        r["meets_target"] = r["p95_s"] < TARGET_P95_S[name] and r["failed"] == 0
        print(
            f"  {label:<22} p50 {r['p50_s']:.3f} s  p95 {r['p95_s']:.3f} s  max {r['max_s']:.3f} s  "
            f"failed {r['failed']}  {r['throughput_per_s']:.1f}/s  in process {direct[name]:.1f} ms, "
            f"the server's work on one upload {handler[name]:.0f} ms "
            f"(p50 / in process {r['p50_over_in_process']:.0f}x)  target p95 < {TARGET_P95_S[name]:g} s "
            f"[{'OK' if r['meets_target'] else 'MISSED'}]"
        )
    if args.json:
        out = Path(__file__).parent / "results" / "bench_serve.json"
        summary = {"runs": runs, "workers": args.workers, "cores": os.cpu_count(), "environment": environment()}
        out.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
