"""Whether a file's content is the one committed at HEAD, judged by content hashes, never by git's index.

A review requirement that asks git "is this file modified?" (`git diff`, `git status`) trusts the
index, which anyone with the checkout can tell to look away (`git update-index --assume-unchanged`
or `--skip-worktree`). Comparing the blob hash of the bytes on disk with the blob at HEAD cannot be
told to look away: the file is reviewed only if its bytes are the committed bytes.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

COMMITTED, MODIFIED, UNTRACKED, NO_GIT, OTHER_REPO = "committed", "modified", "untracked", "no git", "other repository"


def _git(directory: Path, *args: str, stdin: str | None = None) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=30,
                              input=stdin)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def repo_root(directory: Path) -> Path | None:
    """The top of the git work tree holding `directory`, or None outside git."""
    top = _git(Path(directory), "rev-parse", "--show-toplevel")
    return Path(top.strip()).resolve() if top and top.strip() else None


def states(paths, repo: Path | None = None) -> dict[Path, str]:
    """Each file's state: committed (its bytes are HEAD's), modified, untracked (not in HEAD), no git, or
    other repository (committed somewhere that is not `repo`, the repository holding the suites)."""
    paths = [Path(p).resolve() for p in paths]
    if not paths:
        return {}
    want = repo_root(repo) if repo is not None else None
    out: dict[Path, str] = {}
    by_top: dict[Path, list[Path]] = {}
    for path in paths:
        top = repo_root(path.parent if path.parent.is_dir() else Path.cwd())
        if top is None or (repo is not None and want is None):
            out[path] = NO_GIT
        elif want is not None and top != want:
            out[path] = OTHER_REPO
        else:
            by_top.setdefault(top, []).append(path)
    for top, files in by_top.items():
        out.update(_compare(top, files))
    return out


def _compare(top: Path, files: list[Path]) -> dict[Path, str]:
    rel = {path: path.relative_to(top).as_posix() for path in files}
    listed = _git(top, "ls-tree", "-r", "--full-tree", "HEAD", "--", *rel.values()) or ""
    head = {}
    for line in listed.splitlines():
        meta, _, name = line.partition("\t")
        head[name] = meta.split()[2]
    present = [p for p in files if p.is_file() and rel[p] in head]
    hashed = _git(top, "hash-object", "--stdin-paths", stdin="".join(f"{p}\n" for p in present)) if present else ""
    disk = dict(zip(present, (hashed or "").split()))
    result = {}
    for path in files:
        if rel[path] not in head:
            result[path] = UNTRACKED
        else:
            result[path] = COMMITTED if disk.get(path) == head[rel[path]] else MODIFIED
    return result


def state(path: Path, repo: Path | None = None) -> str:
    """One file's state (see `states`)."""
    return next(iter(states([path], repo).values()))
