"""The package's shape holds (docs/architecture.md): the layers of the import-linter contract, no import
cycle, a small package root. A wrong import fails here with the rule it broke, not later as a cycle."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from testpaths import REPO

PACKAGE = "pytest_modeleval"
PACKAGE_DIR = REPO / PACKAGE
MAX_ROOT_MODULES = 12


# --- the import-linter contract ------------------------------------------------------------------------------

def lint_imports(cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess:
    """Run the venv's lint-imports (installed by the dev extra) on the pyproject.toml in cwd."""
    script = Path(sys.executable).parent / ("lint-imports.exe" if os.name == "nt" else "lint-imports")
    assert script.exists(), f"{script} is missing: install the dev extra (scripts/install.sh) for import-linter"
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    return subprocess.run([str(script), "--no-cache", "--no-logo"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_layers_contract_is_kept():
    result = lint_imports(REPO, REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def copy_of_the_package(tmp_path: Path) -> Path:
    """The package's Python files and pyproject.toml (the contract) in tmp_path, to plant imports in."""
    shutil.copytree(PACKAGE_DIR, tmp_path / PACKAGE,
                    ignore=lambda folder, names: [n for n in names
                                                  if not n.endswith(".py") and not (Path(folder) / n).is_dir()
                                                  or n == "__pycache__"])
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_an_upward_import_breaks_the_contract_by_name(tmp_path):
    tree = copy_of_the_package(tmp_path)
    bootstrap = tree / PACKAGE / "stats" / "bootstrap.py"
    bootstrap.write_text(bootstrap.read_text() + "\n\ndef planted():\n    from ..plugin import session  # noqa\n")
    result = lint_imports(tree, tree)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "pytest_modeleval.stats is not allowed to import pytest_modeleval.plugin" in out, out
    assert "pytest_modeleval.stats.bootstrap -> pytest_modeleval.plugin.session" in out, out
    assert "layers: plugin and cli on top" in out and "BROKEN" in out, out


def test_an_outside_package_imported_where_it_has_no_owner_breaks_the_contract_by_name(tmp_path):
    """torch in stats/ (pure statistics, imported by every gate): the contract names the module and the line."""
    tree = copy_of_the_package(tmp_path)
    bootstrap = tree / PACKAGE / "stats" / "bootstrap.py"
    bootstrap.write_text(bootstrap.read_text() + "\n\ndef planted():\n    import torch  # noqa\n")
    result = lint_imports(tree, tree)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "pytest_modeleval.stats.bootstrap -> torch" in out, out
    assert "torch and transformers only where a model runs" in out and "BROKEN" in out, out


def layer_of(module: str, layers: list[str]) -> int:
    """The index of the contract layer holding a package module (0 is the top), or -1 for the package root."""
    top = module.split(".")[1] if "." in module else ""
    for index, layer in enumerate(layers):
        if top in [name.strip() for name in layer.replace("|", ":").split(":")]:
            return index
    return -1


def test_every_module_named_in_a_string_is_in_a_layer_its_user_may_import():
    """import-linter sees `import` statements only; a "pytest_modeleval.x.y" or "pytest_modeleval.x.y:name"
    string resolved with importlib at run time is an import it cannot see. Each must point down, not up."""
    import re
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c for c in config if c["type"] == "layers")["layers"]
    named = re.compile(rf"^{PACKAGE}(\.\w+)+(:\w+)?$")
    wrong = []
    for name, path in modules_of(PACKAGE_DIR, PACKAGE).items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and named.match(node.value):
                target = node.value.partition(":")[0]
                if layer_of(target, layers) < layer_of(name, layers) and not target.startswith(name):
                    wrong.append(f"{name} (l.{node.lineno}) names {node.value}")
    assert not wrong, "strings that import upward at run time:\n" + "\n".join(wrong)


# --- no import cycle -----------------------------------------------------------------------------------------

def modules_of(package_dir: Path, package: str) -> dict[str, Path]:
    """Every module of the package by dotted name; a package by its __init__.py."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = [package, *path.relative_to(package_dir).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> dict[str, int]:
    """The package modules that `name` imports anywhere in its file (module level or in a function), with
    the first line of each. `from . import x` is the submodule x when there is one; a name that is no module
    is its longest known prefix; importing a.b.c imports a.b too, unless a.b is one of name's own packages
    (already imported before name runs)."""
    is_package = path.name == "__init__.py"
    own_package = name if is_package else name.rpartition(".")[0]
    found: dict[str, int] = {}

    def known(dotted: str) -> str | None:
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    def add(target: str | None, line: int, explicit: bool = True) -> None:
        if target is None or target == name:
            return
        if explicit or target not in parents(name):
            found.setdefault(target, line)
        for parent in parents(target):
            if parent not in parents(name):
                found.setdefault(parent, line)

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(known(alias.name), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = own_package.split(".")
                base = base[:len(base) - (node.level - 1)]
                base_name = ".".join([*base, *([node.module] if node.module else [])])
            else:
                base_name = node.module or ""
            for alias in node.names:
                full = f"{base_name}.{alias.name}"
                add(full if full in modules else known(base_name), node.lineno)
    return found


def import_graph(package_dir: Path, package: str) -> dict[str, dict[str, int]]:
    """module -> {imported module: line}; the root package stays out (the public API: every import passes
    through it)."""
    modules = modules_of(package_dir, package)
    graph = {}
    for name, path in modules.items():
        if name != package:
            graph[name] = {t: line for t, line in imports_of(name, path, modules).items() if t != package}
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in graph:
                    continue
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(graph[target])))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return components


def one_cycle(graph: dict[str, dict[str, int]], component: list[str]) -> str:
    """A shortest cycle through the component's first module, as `a (l.3) -> b (l.9) -> a`."""
    members, start = set(component), component[0]
    came_from: dict[str, str] = {start: ""}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in graph[node]:
                if target == start:
                    path = [node]
                    while came_from[path[-1]]:
                        path.append(came_from[path[-1]])
                    path.reverse()
                    steps = [f"{a} (l.{graph[a][b]})" for a, b in zip(path, [*path[1:], start])]
                    return " -> ".join([*steps, start])
                if target in members and target not in came_from:
                    came_from[target] = node
                    following.append(target)
        frontier = following
    return ", ".join(component)


def describe(graph: dict[str, dict[str, int]]) -> str:
    return "\n".join(one_cycle(graph, component) for component in cycles(graph))


def test_the_package_has_no_import_cycle():
    graph = import_graph(PACKAGE_DIR, PACKAGE)
    assert len(graph) > 100  # the walk found the package
    assert not cycles(graph), "import cycles (line numbers are the importing lines):\n" + describe(graph)


def plant(tmp_path: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = tmp_path / "planted" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / "planted"


def test_a_planted_cycle_through_a_function_level_import_is_found(tmp_path):
    package = plant(tmp_path, {
        "__init__.py": "from .a import thing\n",
        "a.py": "def thing():\n    from . import b\n    return b\n",
        "b.py": "from .a import thing\n",
        "c.py": "from . import a, b\n",
    })
    graph = import_graph(package, "planted")
    assert cycles(graph) == [["planted.a", "planted.b"]]
    assert describe(graph) == "planted.a (l.2) -> planted.b (l.1) -> planted.a"


def test_a_planted_cycle_through_a_parent_package_is_found(tmp_path):
    package = plant(tmp_path, {
        "__init__.py": "",
        "x.py": "import planted.sub.y\n",
        "sub/__init__.py": "from .. import x\n",  # importing planted.sub.y runs planted/sub/__init__.py first
        "sub/y.py": "from . import z\nfrom ..sub import z as again\n",
        "sub/z.py": "",
    })
    graph = import_graph(package, "planted")
    assert graph["planted.sub.y"] == {"planted.sub.z": 1}  # its own package is no edge
    assert cycles(graph) == [["planted.sub", "planted.x"]]


def test_the_root_package_and_a_packages_own_submodules_make_no_cycle(tmp_path):
    package = plant(tmp_path, {
        "__init__.py": "from .sub import y\n",  # the public API imports everything; it is left out
        "sub/__init__.py": "from .y import f\n",
        "sub/y.py": "from .. import sub\nimport planted\n\ndef f():\n    from planted.sub import z\n",
        "sub/z.py": "",
    })
    graph = import_graph(package, "planted")
    assert graph["planted.sub.y"] == {"planted.sub": 1, "planted.sub.z": 5}  # explicit imports of its package count
    assert cycles(graph) == [["planted.sub", "planted.sub.y"]]
    # ...and `from .y import f` in sub/__init__.py with y importing only its siblings is no cycle
    (package / "sub" / "y.py").write_text("from . import z\n")
    assert cycles(import_graph(package, "planted")) == []


# --- the package root ----------------------------------------------------------------------------------------

def test_the_package_root_holds_at_most_12_modules():
    root_modules = sorted(p.name for p in PACKAGE_DIR.glob("*.py"))
    assert len(root_modules) <= MAX_ROOT_MODULES, f"{len(root_modules)} modules at the package root: {root_modules}"


@pytest.mark.parametrize("layer", ["plugin", "cli"])
def test_nothing_imports_the_top_layers(layer):
    """The contract says so too; this names the importer when it does not hold."""
    graph = import_graph(PACKAGE_DIR, PACKAGE)
    top = f"{PACKAGE}.{layer}"
    wrong = [f"{name} (l.{line})" for name, targets in graph.items() if not name.startswith(top)
             for target, line in targets.items() if target == top or target.startswith(top + ".")]
    assert not wrong, f"{top} imported by: {wrong}"


def test_every_cli_command_is_in_the_independence_contract():
    """A new command joins the contract that keeps commands from importing each other."""
    import tomllib

    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    listed = set(next(c for c in contracts if c["type"] == "independence")["modules"])
    shared = {"__init__", "__main__", "common", "engine_parity"}  # the dispatcher and what commands share
    commands = {f"{PACKAGE}.cli.{p.stem}" for p in (PACKAGE_DIR / "cli").glob("*.py") if p.stem not in shared}
    assert commands == listed, f"not in the contract: {sorted(commands - listed)}; gone: {sorted(listed - commands)}"
