"""The program's parts depend on each other one way: no module imports, however indirectly,
a module that imports it back, and each layer only imports the layers below it.

Read from the source with `ast`: every `import` counts, also those inside a function or under
`if TYPE_CHECKING:` (a circle deferred to run time, or to the type checker, is still a circle).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("app", "stmanet")


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _known(name: str) -> str | None:
    """The module of ours that `name` (a module, or a name inside one) lives in."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> set[str]:
    path = MODULES[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: set[str | None] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(_known(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[: len(package) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in MODULES else _known(base))
    found.discard(None)
    found.discard(module)
    return {name for name in found if name is not None}


GRAPH = {module: _imports(module) for module in MODULES}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import each other (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in sorted(graph[module]):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                group.append(other)
                if other == module:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return circles


def _under(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _offenders(importers: list[str], forbidden: tuple[str, ...],
               allowed: tuple[str, ...] = ()) -> list[str]:
    return sorted(
        f"{module} imports {target}"
        for module in importers for target in GRAPH[module]
        if _under(target, *forbidden) and not _under(target, *allowed)
    )


def test_the_graph_is_read():
    assert GRAPH["app.main_window"] >= {"app.controllers.recognition", "app.widgets.player"}
    assert "stmanet.data.project" in GRAPH["stmanet.data.sources"]


def test_no_module_imports_itself_back():
    assert _circles(GRAPH) == []


@pytest.mark.parametrize(("layer", "above"), [
    # the window builds the controllers and hands them what they need (app/controllers/)
    ("app.controllers", ("app.main_window", "app.main", "app.launch", "app.selftest")),
    ("app.widgets", ("app.controllers", "app.main_window", "app.main")),
    ("app.services", ("app.widgets", "app.controllers", "app.main_window", "app.main")),
    # the engine's data layer: models and engine use it, never the other way
    ("stmanet.data", ("stmanet.engine", "stmanet.models", "stmanet.cli")),
    ("stmanet", ("app",)),
])
def test_a_layer_never_imports_the_layers_above_it(layer, above):
    assert _offenders([m for m in MODULES if _under(m, layer)], above) == []


ENGINE_FOR_THE_WINDOW = (
    "stmanet.data.project",  # a coach's labels: the file the app writes and the trainer reads
    "stmanet.data.project_datasets",  # a label project to and from data sets (in a job)
    "stmanet.errors",  # the kinds of error the engine raises
    "stmanet.bundled",  # where the shipped demo model and video are
    "stmanet.engine.events",  # progress of a training run: plain dataclasses, no torch
)
"""What the app's window code (everything but services/ and the entry points that drive the
engine themselves) may import from the engine; the rest is reached through services/."""


def test_the_window_reaches_the_network_and_trainer_only_through_services():
    entry_points = ("app.launch", "app.dispatch", "app.selftest")
    window_code = [m for m in MODULES if _under(m, "app")
                   and not _under(m, "app.services", *entry_points)]
    assert _offenders(window_code, ("stmanet",), ENGINE_FOR_THE_WINDOW) == []
