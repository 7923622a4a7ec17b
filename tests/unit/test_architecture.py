"""The layering contracts in pyproject.toml hold: the domain stays pure, layers point down; hack/ never
reaches into tests/."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"

    result = subprocess.run(
        [str(lint_imports), "--no-cache", "--no-logo", str(REPO / "pyproject.toml")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_hack_never_imports_the_tests() -> None:
    """pytest puts both hack/ and tests/ on the path; only tests may use hack (its scripts run without tests)."""
    tests = REPO / "tests"
    test_modules = {p.stem for p in tests.glob("*.py")} | {p.parent.name for p in tests.glob("*/__init__.py")}
    offenders = []
    for path in sorted((REPO / "hack").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            offenders += [
                f"{path.relative_to(REPO)}:{node.lineno} imports {n}" for n in names if n.split(".")[0] in test_modules
            ]
        if '"tests"' in path.read_text():
            offenders.append(f"{path.relative_to(REPO)} names the tests directory (a sys.path entry?)")

    assert test_modules >= {"kit", "conftest"}  # the scan sees the tests' modules
    assert offenders == []
