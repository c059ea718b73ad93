"""The floor plan holds: imports point down between packages, no module-level import
cycles, and no source file over 400 lines (docs/design.md, issue #13)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("nufair", "ingest", "vo", "catalog", "reco")
#: What each package may import from the others (nufair wires everything; reco nothing).
MAY_IMPORT = {
    "nufair": {"ingest", "vo", "catalog", "reco"},
    "ingest": {"catalog", "reco"},
    "vo": {"catalog"},
    "catalog": set(),
    "reco": set(),
}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    """Absolute module names ``path`` imports (module level only, if asked: imports
    inside functions or ``if TYPE_CHECKING`` blocks cannot form a start-up cycle)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_imports_point_down() -> None:
    """No package imports one above it or beside it that it may not use."""
    wrong = []
    for name, path in _modules().items():
        own = name.split(".")[0]
        for imported in _imports(path, top_level_only=False):
            other = imported.split(".")[0]
            if other in PACKAGES and other != own and other not in MAY_IMPORT[own]:
                wrong.append(f"{name} imports {imported}")
    assert wrong == []


def _in_cycles(graph: dict[str, set[str]]) -> set[str]:
    """Modules left after peeling off, again and again, every module that imports nothing
    left (Kahn's topological sort): empty exactly when the graph has no cycle."""
    left = {m: set(deps) for m, deps in graph.items()}
    while True:
        leaves = {m for m, deps in left.items() if not deps}
        if not leaves:
            return set(left)
        left = {m: deps - leaves for m, deps in left.items() if m not in leaves}


def test_no_import_cycles() -> None:
    """The module-level import graph of the project has no cycle."""
    modules = _modules()
    graph = {m: {i for i in _imports(p, top_level_only=True) if i in modules and i != m}
             for m, p in modules.items()}
    assert _in_cycles(graph) == set()
    # the check itself sees a cycle when there is one (and what depends on it)
    assert _in_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}) == {
        "a", "b", "c", "d"}


def test_no_source_file_over_400_lines() -> None:
    """Small modules named for their role: none of the packages' files is over 400 lines."""
    long = {str(p.relative_to(ROOT)): n for p in _modules().values()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}


def _app_state_reads(tree: ast.AST) -> list[int]:
    """Lines that touch ``<something>.app.state`` or ``app.state``: Starlette's untyped,
    string-keyed bag, which the typed contexts replace."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "state":
            owner = node.value
            if (isinstance(owner, ast.Name) and owner.id == "app") or (
                    isinstance(owner, ast.Attribute) and owner.attr == "app"):
                lines.append(node.lineno)
    return lines


def test_contexts_are_typed_fields_not_app_state() -> None:
    """Every package reaches what the factory built through the typed app
    (``NufairApp``'s contexts and the hosts' Protocols), never through ``app.state``."""
    found = {str(p.relative_to(ROOT)): lines for p in _modules().values()
             if (lines := _app_state_reads(ast.parse(p.read_text(encoding="utf-8"))))}
    assert found == {}
    # the check sees both spellings
    assert _app_state_reads(ast.parse("x = request.app.state.vo\napp.state.y = 1")) == [1, 2]
