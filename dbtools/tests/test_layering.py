"""The apps import each other in one direction only (see the README's architecture section).

Built from the source, not from what happens to be loaded: every `import` and `from ... import`
statement counts, also those deferred into a function body or behind `if TYPE_CHECKING:`, since a
deferred import is still a dependency, only a hidden one. Tests are left out: they may use any app.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The kernel: settings, tenancy, roles, errors, API and page plumbing. Every app may import it;
# it imports none of them (the tenant model is looked up by name, like the user model).
KERNEL = "dbtools"
# The project's URLconf and settings name the apps as strings; that is wiring, not importing.


def first_party_packages() -> set[str]:
    return {p.parent.name for p in ROOT.glob("*/__init__.py")}


def is_test_file(path: Path) -> bool:
    rel = path.relative_to(ROOT).parts
    return "tests" in rel or path.name.startswith("test_") or path.name == "conftest.py"


def imported_modules(tree: ast.AST) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, node.lineno))
    return found


def import_graph() -> dict[str, dict[str, list[str]]]:
    """app -> app it imports -> where ("path:line")."""
    packages = first_party_packages()
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for package in sorted(packages):
        for path in sorted((ROOT / package).rglob("*.py")):
            if is_test_file(path):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for module, line in imported_modules(tree):
                target = module.split(".")[0]
                if target in packages and target != package:
                    graph[package][target].append(f"{path.relative_to(ROOT)}:{line}")
    return graph


def cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """The strongly connected groups of more than one app (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(set(graph) | {t for edges in graph.values() for t in edges}):
        if node not in index:
            visit(node)
    return groups


def describe(graph: dict[str, dict[str, list[str]]], group: list[str]) -> str:
    lines = [" <-> ".join(group)]
    for app in group:
        for target in group:
            for where in graph.get(app, {}).get(target, []):
                lines.append(f"  {app} -> {target} at {where}")
    return "\n".join(lines)


def test_no_cycle_between_apps() -> None:
    graph = import_graph()
    found = cycles(graph)
    assert not found, "Apps import each other:\n" + "\n".join(describe(graph, g) for g in found)


def test_the_kernel_imports_no_app() -> None:
    edges = import_graph().get(KERNEL, {})
    where = [f"{KERNEL} -> {app} at {w}" for app, places in edges.items() for w in places]
    assert not where, "The kernel imports apps:\n" + "\n".join(where)


def test_the_check_sees_deferred_imports_and_cycles() -> None:
    """The checker itself: an import inside a function counts, and a loop is reported."""
    tree = ast.parse("def f():\n    from b.models import X\n")
    assert imported_modules(tree) == [("b.models", 2)]
    graph = {"a": {"b": ["a.py:2"]}, "b": {"c": ["b.py:1"]}, "c": {"a": ["c.py:1"]}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b": ["a.py:1"]}}) == []


# Modules of the pages and of the domain: they must work without the API (a page importing a
# serializer ends up validating with the API's rules and messages instead of the model's).
PAGE_AND_DOMAIN_MODULES = ("views.py", "forms.py", "actions.py", "models.py", "rules.py")
DOMAIN_WITHOUT_DRF = ("deployment.py",)


def test_pages_and_the_domain_do_not_import_the_api() -> None:
    wrong = []
    for package in sorted(first_party_packages() - {KERNEL}):
        for name in (*PAGE_AND_DOMAIN_MODULES, *DOMAIN_WITHOUT_DRF):
            path = ROOT / package / name
            if not path.exists():
                continue
            for module, line in imported_modules(ast.parse(path.read_text(encoding="utf-8"))):
                parts = module.split(".")
                if parts[0] == "rest_framework" or (len(parts) > 1 and parts[1] == "api"):
                    wrong.append(f"{package}/{name}:{line} imports {module}")
    assert not wrong, "\n".join(wrong)
