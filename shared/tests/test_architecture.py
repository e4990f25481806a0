"""The shape of the code, checked: packages import each other in one direction only.

- No module imports itself back, through any path, not even for annotations.
- Top-level packages: ``trellis.contracts`` (its own distribution, what a consumer
  installs) imports none of the others; ``trellis.core`` only the contracts; ``orgchart``
  builds on the core; ``ops``, the command line (``trellis.cli``), the test
  fixtures (``trellis.testing``) and the services sit on top; no service imports another.
- Inside the core, each subsystem imports only the ones below it:
  root (errors, ids, strict_json) < store < messaging < consuming < rebuild < runtime.

Imports under ``if TYPE_CHECKING:`` are annotations, not dependencies, and are skipped.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "contracts/src", ROOT / "shared/src", *sorted((ROOT / "services").glob("*/src"))]
CORE_LAYERS = ["root", "store", "messaging", "consuming", "rebuild", "runtime"]
TOP_LAYERS = {"contracts": 0, "core": 1, "orgchart": 2, "ops": 3, "cli": 4, "testing": 4}
SERVICES = {"goals", "onboarding", "feedback", "notifications"}


def _runtime_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return [name for name in found if name.startswith("trellis.")]


def _module_of(path: Path) -> str:
    for source in SOURCES:
        if path.is_relative_to(source):
            return ".".join(path.relative_to(source).with_suffix("").parts)
    raise AssertionError(path)


def _modules() -> dict[str, list[str]]:
    return {
        _module_of(path): _runtime_imports(path)
        for source in SOURCES
        for path in source.rglob("*.py")
        if "migrations" not in path.parts
    }


def _core_layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] != ["trellis", "core"] or len(parts) < 3:
        return None
    return parts[2] if parts[2] in CORE_LAYERS else "root"


def test_the_core_subsystems_import_only_those_below_them() -> None:
    wrong = []
    for module, imports in _modules().items():
        layer = _core_layer(module)
        if layer is None:
            continue
        for imported in imports:
            target = _core_layer(imported)
            if imported.split(".")[1] not in ("core", "contracts"):
                wrong.append(f"{module} imports {imported}, outside the core")
            elif target is not None and CORE_LAYERS.index(target) > CORE_LAYERS.index(layer):
                wrong.append(f"{module} ({layer}) imports {imported} ({target})")
    assert wrong == []


def test_packages_import_downwards_and_services_not_each_other() -> None:
    wrong = []
    for module, imports in _modules().items():
        package = module.split(".")[1]
        for imported in imports:
            target = imported.split(".")[1]
            if package in SERVICES:
                if target in SERVICES and target != package:
                    wrong.append(f"{module} imports {imported}: services meet only through events")
                continue
            if target in SERVICES:
                wrong.append(f"{module} imports the service {imported}")
            elif target != package and TOP_LAYERS.get(target, 0) >= TOP_LAYERS.get(package, 0):
                wrong.append(f"{module} ({package}) imports {imported} ({target})")
    assert wrong == []


def test_the_check_sees_a_cycle_when_there_is_one(tmp_path: Path) -> None:
    """A guard on the checker itself: an upward import in a scratch module is found."""
    scratch = tmp_path / "m.py"
    scratch.write_text(
        "from trellis.core.runtime.http import api_router\nif TYPE_CHECKING:\n    import trellis.ops\n"
    )
    imports = _runtime_imports(scratch)
    assert "trellis.core.runtime.http" in imports and "trellis.ops" not in imports
    assert CORE_LAYERS.index(_core_layer("trellis.core.runtime.http") or "") > CORE_LAYERS.index("store")


def _all_imports(path: Path) -> list[str]:
    """Every ``trellis`` module ``path`` imports, annotations included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return [name for name in found if name.startswith("trellis.")]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of ``graph`` (one path per strongly connected group), by Tarjan's method."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_back_not_even_for_annotations() -> None:
    modules = {
        _module_of(path): _all_imports(path)
        for source in SOURCES
        for path in source.rglob("*.py")
        if "migrations" not in path.parts and path.name != "__init__.py"
    }
    graph = {
        module: {target for target in imports if target in modules and target != module}
        for module, imports in modules.items()
    }
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_one() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
