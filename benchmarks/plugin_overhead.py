"""What an installed-but-unused plugin costs a project that runs no eval.

Times importing the plugin alone (and counts the modules it loads, a figure that no load on the
machine blurs), then `pytest --version`, `pytest --version --version` and a run of 500 trivial tests,
each with the plugin and with `-p no:modeleval`, interleaved, and prints the means, the medians and the
ratios. Recent pytest (9.2 here) answers a single `--version` before loading any plugin; `--version
--version` loads them all (and lists them). The plugin is imported from this checkout (PYTHONPATH, from
a scratch working directory), whatever copy is installed.

With `--compare TREE` (another checkout of the package, e.g. a `git worktree` of an older commit)
the same runs are timed on both trees, interleaved, and the ratio of this tree's time to the other's
is printed too: a layout change must not make the plugin slower to load. The trees take turns going
first; a single `--version` (no plugin loaded) is the control that shows the machine's noise.
Run: .venv/bin/python benchmarks/plugin_overhead.py [--repeat N] [--compare TREE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def timed(args: list[str], tree: Path, cwd: Path) -> float:
    """Wall time of one `python -m pytest ARGS` with the package imported from TREE.

    CWD is a scratch directory: `python -m` puts the working directory first on sys.path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), *filter(None, [os.environ.get("PYTHONPATH")])])}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", *args], check=True, capture_output=True, env=env, cwd=cwd)
    return time.perf_counter() - start


def plugin_import(tree: Path, cwd: Path) -> tuple[int, int, float]:
    """What importing the plugin adds to a started pytest, in a fresh interpreter: modules of the package,
    modules in all, and seconds."""
    code = ("import sys, time, pytest; before = set(sys.modules); start = time.perf_counter(); "
            "import pytest_modeleval.plugin; took = time.perf_counter() - start; new = set(sys.modules) - before; "
            "print(sum(m.startswith('pytest_modeleval') for m in new), len(new), took)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), *filter(None, [os.environ.get("PYTHONPATH")])])}
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env, cwd=cwd)
    own, total, took = out.stdout.split()
    return int(own), int(total), float(took)


def compare_import(repeat: int, trees: list[Path], cwd: Path) -> None:
    took = {tree: [] for tree in trees}
    for round_ in range(repeat):
        for tree in trees if round_ % 2 == 0 else trees[::-1]:  # neither tree always goes first
            took[tree].append(plugin_import(tree, cwd)[2])
    for tree in trees:
        own, total, _ = plugin_import(tree, cwd)
        name = "" if len(trees) == 1 else f" [{'this tree' if tree == HERE else tree}]"
        print(f"import the plugin     {name}: {1000 * statistics.mean(took[tree]):7.1f} ms (median "
              f"{1000 * statistics.median(took[tree]):.1f}), {own} modules of the package, {total} in all")
    if len(trees) == 2:
        this, other = (statistics.mean(took[tree]) for tree in trees)
        this_median, other_median = (statistics.median(took[tree]) for tree in trees)
        print(f"import the plugin     : this tree / {trees[1]}: ratio {this / other:.3f} "
              f"({1000 * (this - other):+.1f} ms; medians {this_median / other_median:.3f})")


def compare(label: str, args: list[str], repeat: int, trees: list[Path], cwd: Path) -> None:
    for tree in trees:
        timed(args, tree, cwd)  # warm the file cache
    with_plugin = {tree: [] for tree in trees}
    without = {tree: [] for tree in trees}
    for round_ in range(repeat):
        for tree in trees if round_ % 2 == 0 else trees[::-1]:
            with_plugin[tree].append(timed(args, tree, cwd))
            without[tree].append(timed([*args, "-p", "no:modeleval"], tree, cwd))
    for tree in trees:
        a, b = statistics.mean(with_plugin[tree]), statistics.mean(without[tree])
        name = "" if len(trees) == 1 else f" [{'this tree' if tree == HERE else tree}]"
        print(f"{label}{name}: with plugin {a * 1000:7.1f} ms, without {b * 1000:7.1f} ms, "
              f"ratio {a / b:.3f} ({1000 * (a - b):+.1f} ms, {repeat} runs each; medians "
              f"{1000 * statistics.median(with_plugin[tree]):.1f} / {1000 * statistics.median(without[tree]):.1f} ms)")
    if len(trees) == 2:
        this, other = (statistics.mean(with_plugin[tree]) for tree in trees)
        this_median, other_median = (statistics.median(with_plugin[tree]) for tree in trees)
        print(f"{label}: with plugin, this tree / {trees[1]}: ratio {this / other:.3f} "
              f"({1000 * (this - other):+.1f} ms; medians {this_median / other_median:.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--compare", type=Path, metavar="TREE",
                        help="another checkout of the package to time beside this one")
    args = parser.parse_args()
    trees = [HERE]
    if args.compare is not None:
        other = args.compare.resolve()
        if not (other / "pytest_modeleval" / "__init__.py").is_file():
            parser.error(f"--compare {args.compare}: no pytest_modeleval package there")
        trees.append(other)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        compare_import(args.repeat, trees, scratch)
        compare("pytest --version      ", ["--version"], args.repeat, trees, scratch)
        compare("pytest --version x2   ", ["--version", "--version"], args.repeat, trees, scratch)
        tests = scratch / "test_plain.py"
        tests.write_text("import pytest\n\n@pytest.mark.parametrize('i', range(500))\n"
                         "def test_plain(i):\n    assert i >= 0\n")
        compare("500 plain tests       ", ["-q", "-p", "no:cacheprovider", "--rootdir", tmp, str(tests)],
                args.repeat, trees, scratch)


if __name__ == "__main__":
    main()
