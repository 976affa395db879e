"""Run Python in a child process and read its result and its own peak memory (shared by benches)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_json_child(code: str, *args: str) -> dict:
    """Run ``python -c code args...``; its last stdout line is JSON. Returns that, plus the
    child's peak RSS (``peak_gb``, from wait4). Output goes to files, so a chatty child cannot
    fill a pipe and stall."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"benchmark child failed ({' '.join(args)}):\n{err.read().decode()[-3000:]}")
        result = json.loads(out.read().decode().strip().splitlines()[-1])
    return result | {"peak_gb": usage.ru_maxrss * 1024 / 1e9}


def simulate_cohort(n: int, out: Path) -> float:
    """``genoface simulate --n N --seed 1`` (realistic preset, built-in face) into ``out``; seconds."""
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "genoface", "simulate", "--n", str(n), "--seed", "1", "--out", str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - t
