"""The layer rules are a CI check: `.ci/lint-imports` passes on the tree and fails on any import
against them (README "Layers")."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("sandbox", "models", "tools", "policies", "agents", "cli")


def lint_imports(source_root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / ".ci" / "lint-imports"), str(source_root)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """A copy of the layer folders' Python sources (no data files), as the CI script sees them."""
    for layer in LAYERS:
        shutil.copytree(
            ROOT / layer,
            tmp_path / layer,
            ignore=lambda folder, names: [
                n
                for n in names
                if not (n.endswith(".py") or (Path(folder) / n).is_dir()) or n == "__pycache__"
            ],
        )
    return tmp_path


def test_the_tree_keeps_every_layer_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "broken"),
    [
        # a lower layer importing a higher one
        ("tools/audit.py", "from phalanx.policies import PolicyStack", "Layers"),
        ("policies/guard.py", "import phalanx.agents.tool_agent", "Layers"),
        # inside a function (a lazy import) counts too
        ("agents/graph/errors.py", "def f():\n    from phalanx.cli import app", "Layers"),
        # models and sandbox import nothing else of phalanx, not even a lower layer
        ("models/errors.py", "from phalanx.sandbox import Limits", "models imports nothing else"),
        ("sandbox/errors.py", "from phalanx.models.types import Message", "sandbox imports nothing else"),
        # tools may take the chat message types from models, never a backend
        ("tools/tool.py", "from phalanx.models import load_model", "never a backend"),
    ],
)
def test_a_forbidden_import_fails_the_check(
    tree_copy: Path, module: str, bad_import: str, broken: str
) -> None:
    path = tree_copy / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n\n{bad_import}\n", encoding="utf-8")
    result = lint_imports(tree_copy)
    assert result.returncode != 0
    broken_lines = [line for line in result.stdout.splitlines() if " BROKEN" in line]
    assert any(broken in line for line in broken_lines), result.stdout
    # the report names the offending module, so the fix is one hop away
    assert module.removesuffix(".py").replace("/", ".") in result.stdout
