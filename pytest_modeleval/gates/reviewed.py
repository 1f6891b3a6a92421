"""Whether the files that decided a run's verdicts were the committed ones: what promotion requires.

A gate weakened in an uncommitted pyproject.toml, or a suite edited in the CI checkout, passes
its run; the verdicts mean nothing unless the configuration that produced them went through
review. The run records the files (pyproject.toml, the overrides file, the audit configuration,
every suite file and the conftest.py files above them) whose bytes are not their blob at HEAD of
the rootdir's repository, in `runs.unreviewed`, and `modeleval promote` refuses such a run
unless the committed policy allows it ([tool.modeleval.promotion] allow-unreviewed).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..util import gitfiles


def gate_files(rootdir: Path, settings, test_ids) -> list[Path]:
    """The files that configure the run's gates and define its suites (those that exist)."""
    rootdir = Path(rootdir).resolve()
    files = {rootdir / "pyproject.toml", Path(settings.overrides)}
    if getattr(settings, "audit", None):
        files.add(Path(settings.audit))
    for test_id in test_ids:
        suite_file = (rootdir / str(test_id).split("::", 1)[0]).resolve()
        files.add(suite_file)
        folder = suite_file.parent
        while folder == rootdir or rootdir in folder.parents:
            files.add(folder / "conftest.py")
            folder = folder.parent
    return sorted(p.resolve() for p in files if p.is_file())


def unreviewed(rootdir: Path, files) -> list[str] | None:
    """'path (state)' for each file that is not its committed self; None when the rootdir is not in git."""
    if gitfiles.repo_root(Path(rootdir)) is None:
        return None
    out = []
    for path, state in sorted(gitfiles.states(files, Path(rootdir)).items()):
        if state != gitfiles.COMMITTED:
            try:
                shown = path.relative_to(Path(rootdir).resolve())
            except ValueError:
                shown = path
            out.append(f"{shown} ({state})")
    return out


def record_value(found: list[str] | None) -> str | None:
    """The runs.unreviewed column: a JSON list ("[]": all committed), NULL outside git."""
    return None if found is None else json.dumps(found)


def parse(value) -> list[str]:
    """The files a recorded run lists as unreviewed ([] for none, or for a run recorded before the column)."""
    return json.loads(value) if value else []
