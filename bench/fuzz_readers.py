"""Fuzz genoface's readers of user files for minutes: the targets of tests/test_robust_readers.py.

Each reader gets mutated copies of valid files (hypothesis draws the mutations, many more than
the suite's few dozen per reader, with a fresh random seed per batch) and must answer each with a
result or one GenofaceError within the time limit. Every target runs in its own child process,
watched from here, so a reader that kills the process (a segfault in a C library) or hangs in C
code is reported with its input instead of stopping the run.

    python bench/fuzz_readers.py                       # every target, 10 minutes in all
    python bench/fuzz_readers.py --reader covariates --minutes 2
    python bench/fuzz_readers.py --list

Prints, per target, how many inputs it tried, in how long, and each distinct failure with its
(shrunk) mutations; the failing inputs are written to --out (default: a temporary folder). Exit
status 1 when any target failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"


def _targets():
    sys.path.insert(0, str(TESTS))
    import test_robust_readers as t  # noqa: E402 - the one definition of the targets

    return t


def _key(exc: BaseException) -> str:
    """What tells one failure from another: the exception type and the first line of its message
    (digits dropped: the same bug on another line or byte count is the same bug)."""
    import re

    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:  # FlakyFailure, several bugs
        exc = exc.exceptions[0]
    first = (str(exc).splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}: {re.sub(r'[0-9]+', 'N', first)}"


def _describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:300]}"


def worker(name: str, seconds: float, out: Path, batch: int) -> None:
    """Run one target for ``seconds`` in this process; write a JSON report to ``out/name.json``.

    Before each input the mutated file is saved to ``out/name.current`` so that the parent can
    report the input that killed or hung this process.
    """
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(out / "hypothesis")  # not ./.hypothesis in the repository

    t = _targets()
    target = t.TARGETS[name]
    strategy = t.STRATEGIES[target.kind]
    current = out / f"{name}.current"
    report = {"target": name, "inputs": 0, "seconds": 0.0, "failures": []}
    seen: set[str] = set()
    start = time.monotonic()
    target.files()  # build the seed files before the clock matters (training a model takes seconds)
    base = Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-"))

    def save_report() -> None:
        report["seconds"] = round(time.monotonic() - start, 1)
        (out / f"{name}.json").write_text(json.dumps(report, indent=1))

    deadline = start + seconds
    last: dict = {}

    @settings(
        max_examples=batch,
        derandomize=False,
        database=None,
        deadline=None,
        phases=[Phase.generate, Phase.shrink],
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(ops=strategy)
    def prop(ops):
        if time.monotonic() > deadline:
            return  # time is up: let hypothesis finish this batch without running the reader
        report["inputs"] += 1
        data = t.mutate(target.files()[target.mutated], ops)
        current.write_bytes(data)
        last.update(ops=ops, data=data)
        try:
            t.check_input(target, ops, base)
        except Exception as exc:
            if _key(exc) in seen:
                return  # a failure already reported: keep looking for other ones
            raise

    while time.monotonic() < deadline:
        try:
            prop()
        except Exception as exc:  # a failure: hypothesis has shrunk it and replayed the minimal input last
            key = _key(exc)
            if key not in seen:
                seen.add(key)
                k = len(report["failures"])
                saved = out / f"{name}.failure{k}{Path(target.mutated).suffix or '.bin'}"
                saved.write_bytes(last.get("data", b""))
                report["failures"].append(
                    {
                        "exception": _describe(exc),
                        "ops": repr(last.get("ops")),
                        "input": saved.name,
                        "input_head": repr(last.get("data", b"")[:300]),
                        "traceback": "".join(traceback.format_exception(exc))[-3000:],
                    }
                )
        save_report()
    save_report()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reader", action="append", help="Target name (repeatable; default: all). See --list.")
    p.add_argument("--minutes", type=float, default=10.0, help="Total time, shared by the targets (default 10).")
    p.add_argument("--batch", type=int, default=500, help="Inputs per hypothesis run (a fresh seed each).")
    p.add_argument("--out", type=Path, help="Folder for reports and failing inputs (default: a temporary one).")
    p.add_argument("--list", action="store_true", help="List the targets and exit.")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        worker(args.worker, args.seconds, args.out, args.batch)
        return 0
    t = _targets()
    if args.list:
        for name, target in t.TARGETS.items():
            print(f"{name:24} {target.mutated:14} {target.owner or 'io/meshes, io/covariates, models/_base'}")
        return 0
    names = args.reader or list(t.TARGETS)
    unknown = [n for n in names if n not in t.TARGETS]
    if unknown:
        p.error(f"unknown reader(s) {', '.join(unknown)}; see --list")
    out = args.out or Path(tempfile.mkdtemp(prefix="genoface-fuzz-"))
    out.mkdir(parents=True, exist_ok=True)
    per_target = args.minutes * 60 / len(names)
    limit = t.TIME_LIMIT
    print(f"fuzzing {len(names)} reader(s), {per_target:.0f} s each; reports and failing inputs in {out}", flush=True)

    total_inputs, failed = 0, []
    for name in names:
        start = time.monotonic()
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        cmd = [sys.executable, __file__, "--worker", name, "--seconds", str(per_target), "--out", str(out)]
        cmd += ["--batch", str(args.batch)]
        # Budget: the run, the seed files (a model is trained first), one slow input and shrinking.
        budget = per_target + 4 * limit + 180
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _, err = proc.communicate(timeout=budget)
            died = proc.returncode != 0
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            died = True
        report_file = out / f"{name}.json"
        report = json.loads(report_file.read_text()) if report_file.exists() else {"inputs": 0, "failures": []}
        if died:
            current = out / f"{name}.current"
            kept = out / f"{name}.killer{Path(t.TARGETS[name].mutated).suffix or '.bin'}"
            if current.exists():
                current.replace(kept)
            tail = err.decode(errors="replace").strip().splitlines()[-3:]
            report["failures"].append(
                {
                    "exception": f"the worker died (exit {proc.returncode}): a crash or hang in C code",
                    "input": kept.name,
                    "traceback": "\n".join(tail),
                }
            )
        elapsed = time.monotonic() - start
        total_inputs += report["inputs"]
        status = "ok" if not report["failures"] else f"{len(report['failures'])} FAILURE(S)"
        print(f"{name:24} {report['inputs']:8,} inputs in {elapsed:6.0f} s   {status}", flush=True)
        for f in report["failures"]:
            failed.append(name)
            print(f"    {f['exception']}")
            if f.get("ops"):
                print(f"      mutations: {f['ops'][:300]}")
            print(f"      input: {out / f['input']}")
    print(f"{total_inputs:,} inputs in all; {len(set(failed))} reader(s) with failures")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
