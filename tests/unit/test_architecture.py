"""The package's shape holds: imports run one way, and no module imports itself round a cycle.

Layers, lowest first: core; config, evidence and transports on core; updates (image formats)
on config; probes on transports and updates; reporting on config and evidence; the
emulator (sim) beside the probes; the check suites on probes and evidence; the plugin on
all of those; the command line on top. Every import counts, including those inside a
function, since a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# What each part of the code may import (besides itself and the `harness` root's version).
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "config": {"core"},
    "evidence": {"core"},
    "transports": {"core"},
    "updates": {"core", "config"},
    "probes": {"core", "config", "transports", "updates"},
    "reporting": {"core", "config", "evidence"},
    "sim": {"core", "config", "transports", "updates"},
    "testsuites": {"core", "config", "evidence", "transports", "updates", "probes"},
    "plugin": {
        "core", "config", "evidence", "transports", "updates", "probes", "reporting", "testsuites",
    },
    "cli": {
        "core", "config", "evidence", "transports", "updates", "probes", "reporting", "sim",
        "testsuites", "plugin",
    },
}  # fmt: skip


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    files = [*REPO.glob("harness/**/*.py"), *REPO.glob("testsuites/**/*.py")]
    return {_module_name(p): p for p in files if "__pycache__" not in p.parts}


def _imports(path: Path, name: str, known: set[str]) -> Iterator[tuple[str, int]]:
    """Every module of ours that `path` imports, with the line."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{a.name}" for a in node.names]
            targets = [t if t in known else base for t in targets]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target:
                yield target, node.lineno


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "testsuites":
        return "testsuites"
    return parts[1] if len(parts) > 1 else None  # None: the harness root (version)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {
        name: {t for t, _ in _imports(path, name, known) if t != name}
        for name, path in modules.items()
    }


def test_imports_never_reach_a_layer_above() -> None:
    modules = _modules()
    known = set(modules)
    upward: set[str] = set()
    for name, path in modules.items():
        layer = _layer(name)
        if layer is None or name.endswith("__main__"):
            continue  # the root, and launchers (`python -m harness.sim` runs the CLI)
        for target, line in _imports(path, name, known):
            other = _layer(target)
            if other is None or other == layer:
                continue
            if other not in ALLOWED[layer]:
                upward.add(f"{path.relative_to(REPO)}:{line}: {layer} imports {target}")
    assert not upward, "imports against the layering:\n" + "\n".join(sorted(upward))


def test_no_import_cycle() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_root_shows_the_architecture() -> None:
    entries = sorted(p.name for p in (REPO / "harness").iterdir() if p.name != "__pycache__")
    assert len(entries) <= 12, entries
