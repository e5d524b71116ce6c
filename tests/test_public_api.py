"""The public surface (README "Public API"): each package's `__init__` lists what users import, and
the CLI and the examples, written as a user would, import nothing else."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
USER_CODE = sorted((ROOT / "cli").glob("*.py")) + sorted((ROOT / "examples").glob("*.py"))
LAYERS = ("sandbox", "models", "tools", "policies", "agents")


def phalanx_imports(source: str) -> list[tuple[int, str, str | None]]:
    """`(line, module, name)` of every `import phalanx...` / `from phalanx... import name` in `source`."""
    found: list[tuple[int, str, str | None]] = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").startswith("phalanx.")
        ):
            found.extend((node.lineno, node.module or "", alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, a.name, None) for a in node.names if a.name.startswith("phalanx."))
    return found


def not_public(module: str, name: str | None) -> str | None:
    """Why `from module import name` (or `import module`) reaches past the public surface, or None."""
    if module == "phalanx.cli" or module.startswith("phalanx.cli."):
        return None  # the command line's own modules
    spec = importlib.util.find_spec(module)
    if spec is None:
        return f"{module} does not exist"
    if spec.submodule_search_locations is None:
        return f"{module} is a module, not a package: import the name from its package"
    if name is None:
        return None
    package = importlib.import_module(module)
    subpackages = {m.name for m in pkgutil.iter_modules(package.__path__) if m.ispkg}
    if name in getattr(package, "__all__", ()) or name in subpackages:
        return None
    return f"{name} is not in {module}.__all__"


def problems_of(source: str) -> list[str]:
    return [
        f"line {line}: {why}"
        for line, module, name in phalanx_imports(source)
        if (why := not_public(module, name)) is not None
    ]


@pytest.mark.parametrize("path", USER_CODE, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_cli_and_examples_import_only_public_names(path: Path) -> None:
    assert problems_of(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("from phalanx.models.serve import BackgroundServer", "is a module, not a package"),
        ("import phalanx.agents.audit.harness", "is a module, not a package"),
        ("def f():\n    from phalanx.policies.harm_corpus import build_index", "is a module, not a package"),
        ("from phalanx.sandbox import WarmPool", "WarmPool is not in phalanx.sandbox.__all__"),
    ],
)
def test_the_check_sees_a_private_import(source: str, why: str) -> None:
    (problem,) = problems_of(source)
    assert why in problem


def test_public_imports_pass_the_check() -> None:
    source = (
        "from phalanx.agents import ToolAgent, audit_toolsword, longagent\n"
        "from phalanx.sandbox.docker import WarmPool\n"
        "import phalanx.models\n"
    )
    assert problems_of(source) == []


def public_packages() -> list[str]:
    names = []
    for layer in LAYERS:
        package = importlib.import_module(f"phalanx.{layer}")
        names.append(package.__name__)
        names.extend(
            m.name for m in pkgutil.walk_packages(package.__path__, f"{package.__name__}.") if m.ispkg
        )
    return names


@pytest.mark.parametrize("package", public_packages())
def test_every_exported_name_resolves(package: str) -> None:
    """A name in `__all__` (lazily loaded ones included) is really there."""
    module = importlib.import_module(package)
    missing = []
    for name in getattr(module, "__all__", ()):
        try:
            getattr(module, name)
        except (AttributeError, ImportError) as exc:
            missing.append(f"{name}: {exc}")
    assert missing == []


def test_importing_phalanx_agents_loads_the_runtime_only() -> None:
    """The systems' entry points are exported lazily: the import stays as cheap as the runtime's."""
    import subprocess
    import sys

    probe = (
        "import sys, phalanx.agents as a; a.GraphBuilder; "
        "print(sorted(m for m in ('torch', 'docker', 'matplotlib', 'phalanx.agents.tool_agent', "
        "'phalanx.agents.audit', 'phalanx.agents.stepcoder', 'phalanx.agents.selfevolve', "
        "'phalanx.agents.longagent') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
