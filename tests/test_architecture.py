"""The house rules, checked: the layer order (import-linter, as CI runs it), private modules used
only inside their own package, and tests that use public names."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

needs_import_linter = pytest.mark.skipif(
    not LINT_IMPORTS.exists(), reason="import-linter is not installed (pip install -e '.[test]')"
)


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the package under ``root/src`` with ``root/pyproject.toml``'s contracts."""
    env = {**os.environ, "PYTHONPATH": str(root / "src")}  # this tree's genoface, not the installed one
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@needs_import_linter
def test_the_layer_contracts_hold():
    run = _lint_imports(ROOT)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout


@needs_import_linter
@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        # a reader that reaches up to the models: the layers contract breaks
        ("io/meshes.py", "from genoface.models import FaceModel", "genoface layers"),
        # a package reaching into another's private module
        ("traits/_classifiers.py", "from genoface.genetics._qc import iter_blocks", "private modules stay"),
        # two modules of one package importing each other
        ("report/_page.py", "from genoface.report import evaluation", "no import cycles in a package"),
    ],
)
def test_a_deliberate_violation_breaks_the_contract(tmp_path, module, line, contract):
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "src" / "genoface" / module
    target.write_text(target.read_text() + f"\n{line}  # deliberate violation\n")
    run = _lint_imports(tmp_path)
    assert run.returncode != 0
    broken = [ln for ln in run.stdout.splitlines() if ln.endswith("BROKEN")]
    assert any(ln.startswith(contract) for ln in broken), run.stdout[-3000:]


def _private_imports(path: Path) -> list[str]:
    """``genoface...._name`` modules that ``path`` imports."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found += [n for n in names if n.split(".")[0] == "genoface" and any(p.startswith("_") for p in n.split("."))]
    return found


# White-box tests of the Sero model's likelihood algebra (its private helpers have no public use).
_WHITE_BOX = {
    ("test_sero.py", "genoface.models._sero"),
    ("test_bayes.py", "genoface.models.bayes._model"),  # the held-out scale, checked on fakes by hand
}


def test_tests_and_benchmarks_use_public_names():
    offenders = [
        f"{path.relative_to(ROOT)}: {module}"
        for folder in ("tests", "bench")
        for path in sorted((ROOT / folder).glob("*.py"))
        for module in _private_imports(path)
        if (path.name, module) not in _WHITE_BOX
    ]
    assert not offenders, "import these through their package instead:\n" + "\n".join(offenders)


# The neural-network modules: layer constructors list their layers in one place on purpose.
_NEURAL_MODULES = ("models/difface/",)
MAX_FUNCTION_LINES = 60


def test_no_long_functions_outside_the_neural_network_modules():
    """Every function reads as named steps: at most 60 lines from ``def`` to its last line."""
    long = []
    for path in sorted((ROOT / "src" / "genoface").rglob("*.py")):
        rel = path.relative_to(ROOT / "src" / "genoface").as_posix()
        if rel.startswith(_NEURAL_MODULES):
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{rel}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "split these into named steps:\n" + "\n".join(long)
