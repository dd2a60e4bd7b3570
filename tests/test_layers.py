"""The package's layers (.importlinter): each package imports only those below it, no two
sibling modules import each other, the root package imports none of them, and the pytest
plugin's import stays light."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parent.parent
LINT = Path(sys.executable).parent / "lint-imports"


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--config", str(root / ".importlinter"), "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


def test_the_layers_contract_is_kept() -> None:
    done = _lint(REPO)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # the comparator importing an op: a lower layer importing a higher one
        (
            "compare/metrics.py",
            "from harness.ops import catalogue",
            "harness.compare is not allowed",
        ),
        # the package's root, loaded before any layer, importing one
        ("__init__.py", "from harness import cli", "harness is not allowed to import harness.cli"),
        # two modules of one package importing each other
        ("compare/tolerance.py", "from harness.compare import stages", "No cycles are allowed"),
    ],
)
def test_the_contract_fails_on_a_planted_import(
    tmp_path: Path, module: str, line: str, broken: str
) -> None:
    shutil.copytree(
        REPO / "harness", tmp_path / "harness", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO / ".importlinter", tmp_path)
    with (tmp_path / "harness" / module).open("a") as f:
        f.write(f"\n{line}  # noqa\n")
    done = _lint(tmp_path)
    assert done.returncode != 0 and broken in done.stdout, done.stdout[-3000:]


def test_importing_the_pytest_plugin_loads_no_numpy_and_few_project_modules() -> None:
    """pytest imports the plugin in every run where the package is installed, parity or not."""
    code = (
        "import sys; import harness.pytest_plugin; "
        "print(sorted(m for m in sys.modules if m.startswith('harness'))); "
        "print('numpy' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules, numpy = done.stdout.splitlines()
    loaded = eval(modules)  # a list literal printed above
    assert numpy == "False", loaded
    # harness, the plugin, its options, stash keys and skip (all plain pytest), specs.variants
    assert len(loaded) <= 7, loaded
