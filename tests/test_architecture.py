"""The tree is the architecture: layers import only downwards, the pure core does no I/O,
there are no import cycles, and the installed package names cannot clash with other projects.

Read from the source with ``ast`` (nothing is imported), so a violation names the file and line.
Imports under ``if TYPE_CHECKING:`` are for the type checker only and do not count.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP = {"engine": "noisecast.engine", "feeds": "noisecast.feeds"}

# What each layer may import, besides itself. A module's layer is its folder under engine/
# (core, store, jobs, web, cli, demo), "feeds", or "base" for engine/*.py at the top.
ALLOWED = {
    "base": {
        "core",
        "feeds",
        "records",
    },  # config validates queries and URLs; analysis reads the store
    "core": {"base", "records"},
    "records": {"records"},
    "feeds": {"base", "records"},
    "store": {"base", "core", "feeds", "records"},
    "jobs": {"base", "core", "store", "feeds", "records"},
    "web": {"base", "core", "store", "jobs", "records"},
    "demo": {"base", "core", "store", "jobs", "feeds", "records", "web"},
    "cli": {"base", "core", "store", "jobs", "feeds", "records", "web", "demo"},
}
# The feeds modules that are plain records and text rules (no I/O): the core may read them.
FEEDS_RECORDS = {
    "noisecast.feeds.result",
    "noisecast.feeds.mention",
    "noisecast.feeds.text",
    "noisecast.feeds.dates",
    "noisecast.feeds.urls",
}
# Top-level engine modules that read the database: they sit above the store.
BASE_ABOVE_STORE = {"noisecast.engine.analysis"}
# Libraries that do I/O: the pure core never imports them.
IO_LIBRARIES = {
    "sqlalchemy",
    "alembic",
    "httpx",
    "requests",
    "praw",
    "fastapi",
    "starlette",
    "uvicorn",
    "apscheduler",
    "joblib",
    "socket",
    "subprocess",
    "urllib.request",
    "psycopg",
}
# Calls that read the clock or the file system: the pure core takes them as arguments.
IMPURE_CALLS = {"datetime.now", "datetime.utcnow", "time.time", "date.today", "open"}


def _modules() -> Iterator[tuple[str, Path]]:
    for top, package in TOP.items():
        for path in sorted((ROOT / top).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT / top).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join([package, *parts]), path


MODULES = dict(_modules())


def _layer(module: str) -> str:
    if module.endswith(".__main__"):
        return "cli"  # an entry point (python -m ...) stands where the CLI does
    if module in FEEDS_RECORDS:
        return "records"
    if module.startswith("noisecast.feeds"):
        return "feeds"
    parts = module.split(".")
    if len(parts) > 3 and parts[2] in ALLOWED:
        return parts[2]
    if len(parts) == 3 and parts[2] in ALLOWED and (ROOT / "engine" / parts[2]).is_dir():
        return parts[2]
    return "base"


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _imports(module: str, path: Path) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every runtime import, at any depth, resolved to a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_lines(tree)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            for alias in node.names:
                name = f"{base}.{alias.name}"
                yield node.lineno, name if name in MODULES else base


def _graph() -> dict[str, set[str]]:
    return {
        module: {name for _, name in _imports(module, path) if name in MODULES and name != module}
        for module, path in MODULES.items()
    }


def test_every_package_folder_is_installed_under_noisecast() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    folders = {
        ".".join([package, *init.parent.relative_to(ROOT / top).parts])
        for top, package in TOP.items()
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert folders == listed, "pyproject's [tool.setuptools] packages must list every package"
    assert all(name.startswith("noisecast.") for name in listed)


def test_nothing_imports_the_bare_folder_names() -> None:
    offenders = []
    for folder in ("engine", "feeds", "tests", "bench", "docs"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and not node.level:
                    names = [node.module or ""]
                for name in names:
                    if name.split(".")[0] in TOP:
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    assert not offenders, "import noisecast.engine / noisecast.feeds instead:\n" + "\n".join(
        offenders
    )


@pytest.mark.parametrize("module", sorted(MODULES))
def test_layers_import_only_downwards(module: str) -> None:
    layer = _layer(module)
    allowed = ALLOWED[layer] | {layer}
    if module in BASE_ABOVE_STORE:
        allowed = allowed | {"store"}
    wrong = [
        f"{MODULES[module].relative_to(ROOT)}:{line}: {name} ({_layer(name)})"
        for line, name in _imports(module, MODULES[module])
        if name in MODULES
        and _layer(name) not in allowed
        and not (_layer(name) == "base" and name in BASE_ABOVE_STORE and layer != "base")
    ]
    wrong += [
        f"{MODULES[module].relative_to(ROOT)}:{line}: {name} (above the core)"
        for line, name in _imports(module, MODULES[module])
        if name in BASE_ABOVE_STORE and layer in ("core", "store", "feeds")
    ]
    assert not wrong, f"{module} ({layer}) imports a layer above it:\n" + "\n".join(wrong)


@pytest.mark.parametrize(
    "module", sorted(m for m in MODULES if _layer(m) == "core" and not m.endswith(".core"))
)
def test_the_core_is_pure(module: str) -> None:
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_lines(tree)
    problems = [
        f"{path.relative_to(ROOT)}:{line}: imports {name}"
        for line, name in _imports(module, path)
        if any(name == lib or name.startswith(lib + ".") for lib in IO_LIBRARIES)
    ]
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.lineno not in skip:
            called = ast.unparse(node.func)
            if called in IMPURE_CALLS or any(called.endswith("." + c) for c in IMPURE_CALLS):
                problems.append(f"{path.relative_to(ROOT)}:{node.lineno}: calls {called}()")
    assert not problems, f"{module} is in core/, which does no I/O:\n" + "\n".join(problems)


def test_there_are_no_import_cycles() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
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
