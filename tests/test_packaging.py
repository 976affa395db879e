"""genoface as people install it: ``python -m build`` makes a wheel and an sdist, each installs with
pip into a fresh virtual environment, and the installed copy runs and finds its package data.

Nothing is downloaded: the build runs without isolation (the backend, hatchling, must be installed
where the tests run), pip runs with ``--no-index --no-deps``, and the fresh environment sees the
test environment's installed dependencies through a ``.pth`` file that names its site-packages.
A directory named in a ``.pth`` file is added to ``sys.path`` without reading the ``.pth`` files
inside it, so the editable install's ``_editable_impl_genoface.pth`` (which points at src/) is not
followed: the fresh environment imports genoface only from what pip installed there, which the
test checks before and after the install.
"""

from __future__ import annotations

import email.parser
import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = ROOT / "src" / "genoface"
# What never ships, wherever it lies: bytecode and the cohort cache.
_SKIP_DIRS = {"__pycache__", ".genoface_cache"}
_SKIP_SUFFIXES = {".pyc", ".pyo", ".pyd"}


def _require_build_tools() -> None:
    if importlib.util.find_spec("build") is None:
        pytest.skip("the 'build' package is not installed (pip install build); cannot build the wheel and sdist")
    if importlib.util.find_spec("hatchling") is None:
        pytest.fail(
            "hatchling, genoface's build backend, is not installed in this environment; "
            "`python -m build --no-isolation` needs it: pip install 'hatchling>=1.20' (it belongs in the [test] extra)"
        )


def _package_files() -> list[str]:
    """Every file under src/genoface that must ship, relative to src/ (e.g. genoface/traits/data/x.tsv)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(PACKAGE_DIR):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS and not d.startswith(".")]
        for name in filenames:
            if name.startswith(".") or Path(name).suffix in _SKIP_SUFFIXES:
                continue
            out.append(Path(dirpath, name).relative_to(PACKAGE_DIR.parent).as_posix())
    return sorted(out)


def _clean_env(venv: Path | None = None) -> dict[str, str]:
    dropped = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP", "GENOFACE_HIRISPLEX"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(PYTHONNOUSERSITE="1", PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONDONTWRITEBYTECODE="1")
    if venv is not None:
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(venv)
    return env


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f"{' '.join(map(str, cmd))} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}"
    )
    return proc


def _fresh_venv(path: Path) -> Path:
    """A virtual environment without genoface that imports the test environment's dependencies."""
    import venv

    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(path)
    python = path / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
        env=_clean_env(),
    ).stdout.strip()
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    Path(purelib, "_genoface_test_deps.pth").write_text("".join(f"{p}\n" for p in sorted(ours)))
    return python


# The check run inside a fresh environment: where genoface comes from, its version, its data.
_CHECK = r"""
import importlib.metadata, importlib.resources, json, sys
import genoface
from genoface.simulate import published_operating_points
from genoface.traits import hirisplex_folder, reference_frequencies
data = importlib.resources.files("genoface.traits") / "data"
files = {p.name: len(p.read_bytes()) for p in data.iterdir() if p.is_file()}
try:
    tables = str(hirisplex_folder())
except Exception as exc:
    tables = str(exc)
json.dump({
    "file": genoface.__file__,
    "version": genoface.__version__,
    "metadata_version": importlib.metadata.version("genoface"),
    "data": files,
    "tables": tables,
    "n_operating_points": len(published_operating_points()),
    "n_frequencies": len(reference_frequencies()),
}, sys.stdout)
"""


def _check_installed(python: Path, venv: Path, cwd: Path, version: str) -> dict:
    info = json.loads(_run([python, "-c", _CHECK], cwd=cwd, env=_clean_env(venv)).stdout)
    installed = Path(info["file"]).resolve()
    assert installed.is_relative_to(venv.resolve()), f"genoface imported from {installed}, not from the fresh {venv}"
    assert not installed.is_relative_to(ROOT / "src")
    assert info["version"] == info["metadata_version"] == version
    shipped = {p.name for p in (PACKAGE_DIR / "traits" / "data").iterdir() if p.is_file()}
    assert set(info["data"]) >= shipped, f"missing from the installed data: {shipped - set(info['data'])}"
    assert all(size > 0 for size in info["data"].values()), info["data"]
    # The HIrisPlex-S tables are shared data: not in the package, and their absence is said.
    assert "not shipped with genoface" in info["tables"], info
    assert info["n_operating_points"] > 0 and info["n_frequencies"] > 0, info
    return info


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> tuple[Path, Path]:
    _require_build_tools()
    out = tmp_path_factory.mktemp("dist")
    _run(
        [sys.executable, "-m", "build", "--wheel", "--sdist", "--no-isolation", "--outdir", str(out), str(ROOT)],
        cwd=out,
        env=_clean_env(),
    )
    wheels, sdists = sorted(out.glob("genoface-*.whl")), sorted(out.glob("genoface-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return wheels[0], sdists[0]


def _wheel_version(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.Parser().parsestr(zf.read(meta).decode())["Version"]


def test_wheel_contents(dists):
    wheel, _ = dists
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    data = sorted(n for n in names if n.startswith("genoface/traits/data/"))
    assert "genoface/traits/data/README.md" in data and any(n.endswith(".tsv") for n in data), data
    # Everything under src/genoface ships (trait tables, report templates, any later package data).
    missing = sorted(set(_package_files()) - names)
    assert not missing, f"files under src/genoface missing from the wheel: {missing}"
    # Nothing but the package and its metadata, and no caches or tests.
    stray = sorted(
        n
        for n in names
        if not (n.startswith("genoface/") or n.startswith("genoface-"))
        or "__pycache__/" in n
        or n.endswith((".pyc", ".pyo"))
        or ".genoface_cache" in n
        or "/tests/" in n
        or "conftest" in n
    )
    assert not stray, f"unexpected files in the wheel: {stray}"
    entry_points = zipfile.ZipFile(wheel).read(f"genoface-{_wheel_version(wheel)}.dist-info/entry_points.txt")
    assert b"genoface = genoface.cli:main" in entry_points


def test_sdist_contents(dists):
    wheel, sdist = dists
    version = _wheel_version(wheel)
    top = f"genoface-{version}/"
    with tarfile.open(sdist) as tf:
        names = {m.name for m in tf.getmembers() if m.isfile()}
    for required in ("pyproject.toml", "README.md", "PKG-INFO", "tests/test_packaging.py"):
        assert top + required in names, f"{required} missing from the sdist"
    missing = sorted(f for f in _package_files() if f"{top}src/{f}" not in names)
    assert not missing, f"files under src/genoface missing from the sdist: {missing}"
    stray = sorted(
        n for n in names if "__pycache__/" in n or n.endswith((".pyc", ".pyo")) or "_cache/" in n or "/.venv/" in n
    )
    assert not stray, f"caches in the sdist: {stray}"


def test_wheel_installs_and_runs(dists, tmp_path):
    wheel, _ = dists
    version = _wheel_version(wheel)
    venv = tmp_path / "venv"
    python = _fresh_venv(venv)
    env = _clean_env(venv)

    # Before the install the fresh environment has no genoface: the editable install is not seen.
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('genoface') is not None)"
    _run([python, "-c", probe], cwd=tmp_path, env=env)

    # pip itself comes from the test environment through the .pth; --ignore-installed keeps pip from
    # ever touching the genoface that the test environment has installed.
    _run(
        [python, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", str(wheel)],
        cwd=tmp_path,
        env=env,
    )
    _check_installed(python, venv, tmp_path, version)

    script = venv / "bin" / "genoface"
    assert script.is_file()
    shown = _run([script, "--version"], cwd=tmp_path, env=env).stdout.split()
    assert shown == ["genoface", version], shown

    cohort = tmp_path / "cohort"
    small = ["--preset", "oligogenic", "--n", "50", "--seed", "1", "--contigs", "1", "--contig-length", "100000"]
    small += ["--x-length", "0"]
    proc = subprocess.run(
        [script, "simulate", "--out", str(cohort), *small],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    for name in ("cohort.json", "covariates.tsv", "template.ply", "truth/face_model.npz"):
        assert (cohort / name).is_file(), f"{name} missing from the simulated cohort"
    assert any((cohort / n).is_file() for n in ("genotypes.vcf.gz", "genotypes.bed")), sorted(cohort.iterdir())
    assert len(list((cohort / "faces").glob("*.ply"))) == 50


def test_sdist_installs(dists, tmp_path):
    wheel, sdist = dists
    venv = tmp_path / "venv"
    python = _fresh_venv(venv)
    # Building from the sdist uses hatchling from the test environment (no isolation, no download).
    _run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--ignore-installed",
            str(sdist),
        ],
        cwd=tmp_path,
        env=_clean_env(venv),
    )
    _check_installed(python, venv, tmp_path, _wheel_version(wheel))
    assert (venv / "bin" / "genoface").is_file()
