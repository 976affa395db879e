"""Run Python in a child process and read its result and its own peak memory (shared by benches)."""

from __future__ import annotations

import json
import os
import platform
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


def environment() -> dict:
    """What the figures depend on besides the code: versions, machine, commit."""
    import numpy
    import scipy

    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    return {"python": platform.python_version(), "numpy": numpy.__version__, "scipy": scipy.__version__,
            "plink2": out(["plink2", "--version"]), "machine": platform.machine(), "processor": platform.processor(),
            "commit": out(["git", "-C", str(Path(__file__).parent), "rev-parse", "--short", "HEAD"]),
            "uncommitted_changes": bool(out(["git", "-C", str(Path(__file__).parent), "status", "--porcelain",
                                             "--untracked-files=no"])),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}  # fmt: skip
