"""The shape of the package (docs/ARCHITECTURE.md): layers point one way, the three pillars never
import each other, no import cycles, no module doing five jobs."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import prunekit

SRC = Path(prunekit.__file__).parent
PILLARS = ("data", "lake", "sparse")
FOUNDATIONS = ("errors", "params", "_progress", "_version", "io", "datasets", "nn")


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    """prunekit modules ``path`` imports (all of them, or only those run at import time)."""
    tree = ast.parse(path.read_text())
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.If) and top_level_only:
            continue  # `if TYPE_CHECKING:` blocks
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("prunekit")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            if not mod.startswith("prunekit"):
                continue
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in MODULES}
    return {m for m in out if m in MODULES and m != me}


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


@pytest.mark.parametrize("module", sorted(MODULES))
def test_layers_point_one_way(module):
    area = _area(module)
    for imported in _imports(MODULES[module], top_level_only=False):
        other = _area(imported)
        if area in PILLARS:
            assert other not in set(PILLARS) - {area}, f"{module} imports {imported}: pillars never import each other"
            assert other != "cli", f"{module} imports the CLI ({imported})"
        if area in FOUNDATIONS:
            assert other not in PILLARS + ("cli",), f"{module} (a foundation) imports {imported}"


def test_no_import_cycles():
    graph = {m: _imports(p, top_level_only=False) for m, p in MODULES.items()}
    # a package imports its own submodules to register them: that edge is not a cycle
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in graph[m]:
            if n.startswith(m + "."):
                continue
            if state.get(n) == 1 and not m.startswith(n + "."):
                cycle = stack[stack.index(n):] + [n]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_too_long_to_have_one_job(module):
    lines = MODULES[module].read_text().count("\n")
    assert lines <= 520, f"{module} has {lines} lines: split it along its seams"
