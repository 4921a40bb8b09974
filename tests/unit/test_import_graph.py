"""The shape of the code (docs/architecture.md, "Where things are"), read from its imports:
arrows go from the ways in down to services, then to the store, and never back up."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("queueapp", "models_registry", "demo_site")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" not in path.parts:
                found[module_name(path)] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project's modules that `name` imports, wherever in the file the import is."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from package import module` imports the module; else the names live in `base`.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        found.update(target for target in targets if target in known and target != name)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def test_no_module_imports_itself_back_through_others():
    edges = graph()
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(edges[name]):
            if state.get(target) == "open":
                cycle = trail[trail.index(target) :] + [target]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, trail + [target])
        state[name] = "done"

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])


def test_the_registry_knows_nothing_of_the_queue():
    edges = graph()
    for name, targets in edges.items():
        if name.startswith("models_registry"):
            assert not {t for t in targets if t.startswith("queueapp")}, name


def test_the_store_and_the_values_below_it_import_no_layer_above():
    edges = graph()
    above = ("queueapp.services", "queueapp.selectors", "queueapp.consumers", "queueapp.api")
    above += ("queueapp.views", "queueapp.admin", "queueapp.worker", "queueapp.tasks")
    below = ("queueapp.store", "queueapp.line", "queueapp.eta", "queueapp.frames")
    below += ("queueapp.errors", "queueapp.events", "queueapp.selectors")
    for name, targets in edges.items():
        if name.startswith(below):
            reaching_up = {t for t in targets if t.startswith(above) and not name.startswith(t)}
            # Reads may be used by services, never the other way round.
            if name.startswith("queueapp.selectors"):
                reaching_up = {t for t in reaching_up if not t.startswith("queueapp.selectors")}
            assert not reaching_up, f"{name} imports {sorted(reaching_up)}"


def test_only_the_ways_in_reach_the_services():
    edges = graph()
    ways_in = ("queueapp.consumers", "queueapp.api", "queueapp.admin", "queueapp.signals")
    ways_in += ("queueapp.gradio", "queueapp.views", "queueapp.worker", "queueapp.services")
    for name, targets in edges.items():
        if any(t.startswith("queueapp.services") for t in targets):
            assert name.startswith(ways_in), f"{name} calls the services"
