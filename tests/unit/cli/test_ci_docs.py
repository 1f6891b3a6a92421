"""docs/ci.md's workflow files use only what exists: valid YAML, every `--eval-*` option in config.OPTIONS, every
`modeleval` command line accepted by the command's own parser, every shell script valid for `bash -n`."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from pytest_modeleval.cli import build_parser
from pytest_modeleval.config import OPTIONS

yaml = pytest.importorskip("yaml")
CI_DOC = Path(__file__).resolve().parents[3] / "docs" / "ci.md"
FILES = (".github/workflows/eval.yml", ".gitlab-ci.yml")


def workflows() -> dict[str, dict]:
    """Each ```yaml block of docs/ci.md whose first line names its file, parsed."""
    found = {}
    for block in re.findall(r"```yaml\n(.*?)```", CI_DOC.read_text(), flags=re.S):
        first = block.splitlines()[0]
        if first.startswith("# ") and first[2:].strip() in FILES:
            found[first[2:].strip()] = yaml.safe_load(block)
    return found


def scripts(tree) -> list[str]:
    """The shell the workflow runs: GitHub's `run:` values and GitLab's `script:` lines."""
    out: list[str] = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key == "run" and isinstance(value, str):
                out.append(value)
            elif key == "script":
                out += value if isinstance(value, list) else [value]
            else:
                out += scripts(value)
    elif isinstance(tree, list):
        for value in tree:
            out += scripts(value)
    return out


def plain(script: str) -> str:
    """GitHub's ${{ ... }} expressions as the word the runner substitutes."""
    return re.sub(r"\$\{\{[^}]*\}\}", "1", script)


def test_both_workflow_files_parse_and_run_only_what_exists():
    found = workflows()
    assert set(found) == set(FILES)
    github, gitlab = found[FILES[0]], found[FILES[1]]
    assert github["jobs"]["eval"]["strategy"]["matrix"]["shard"] == [1, 2, 3, 4]
    assert gitlab["eval"]["parallel"] == 4 and gitlab["report"]["artifacts"]["paths"] == ["modeleval-dashboard/"]
    flags = {option.flag for option in OPTIONS}
    parser = build_parser()
    seen_commands = set()
    for name, tree in found.items():
        for script in map(plain, scripts(tree)):
            done = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
            assert done.returncode == 0, f"{name}: {done.stderr}\n{script}"
            for flag in re.findall(r"(--eval-[a-z-]+)", script):
                assert flag in flags, f"{name}: {flag} is no option of the plugin"
            for line in script.replace("\\\n", " ").splitlines():
                line = re.split(r"\s[>|]\s", line.strip())[0]
                if line.startswith("modeleval "):
                    args = shlex.split(line)[1:]
                    parser.parse_args(args)  # an unknown command or option exits here
                    seen_commands.add(args[0])
    assert seen_commands == {"report", "comment"}
