"""lm-eval's index of its own tasks, kept on disk between runs.

Every `TaskManager()` re-reads lm-eval's ~14,000 built-in task YAML files (13 s on a 2-core machine), and
every pytest process with an lm-eval suite builds at least one. Those files change only when lm-eval is
reinstalled, so their index is built once, pickled into the plugin's cache and keyed by lm-eval's version
and every file's path, size and mtime; a user's own task directories are indexed afresh each time.
Loading the pickle takes about a second.

lm-eval indexes each directory on its own and lets a later one override an earlier one
(`TaskIndex.build`), so an index assembled directory by directory is the one it would build. An lm-eval
without `lm_eval.tasks._index` simply builds its index as before.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

from .. import paths

FORMAT = 1  # bump when what is pickled changes
_LOCK = threading.Lock()


@contextmanager
def cached_index(built_in: Path | None = None):
    """While lm-eval's TaskManager is built, read the index of its built-in directory (or `built_in`) from the
    cache; other directories are indexed as lm-eval does."""
    try:
        import lm_eval.tasks
        from lm_eval.tasks import manager
        from lm_eval.tasks._index import TaskIndex
    except ImportError:  # an lm-eval without the per-directory index
        yield
        return
    built_in = (built_in or Path(lm_eval.tasks.__file__).parent).resolve()

    class CachedTaskIndex(TaskIndex):
        @staticmethod
        def build(roots, *, resolve_includes=True):
            index: dict = {}
            for root in roots:
                if Path(root).resolve() == built_in:
                    index.update(_cached(TaskIndex, built_in, resolve_includes))
                else:
                    index.update(TaskIndex.build([root], resolve_includes=resolve_includes))
            return index

    with _LOCK:
        original = manager.TaskIndex
        manager.TaskIndex = CachedTaskIndex
        try:
            yield
        finally:
            manager.TaskIndex = original


def _cached(task_index, root: Path, resolve_includes: bool) -> dict:
    path = index_path(root, resolve_includes)
    try:
        with path.open("rb") as f:
            return pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
        pass  # not there yet, or unreadable: build it again
    index = task_index.build([root], resolve_includes=resolve_includes)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name, delete=False) as f:
            pickle.dump(index, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(f.name, path)  # concurrent processes each write a whole file
        _forget_old(path)
    except OSError:
        pass  # a read-only cache only costs the next run the rebuild
    return index


def _forget_old(kept: Path, days: float = 30) -> None:
    """Indexes of lm-eval installs not read for a month go (about 15 MB each); other live installs keep theirs."""
    import time

    for other in kept.parent.glob("*.pickle"):
        if other != kept and other.stat().st_atime < time.time() - days * 86400:
            other.unlink(missing_ok=True)


def index_path(root: Path, resolve_includes: bool) -> Path:
    """The cache file for the built-in directory as it is installed now."""
    from importlib.metadata import version

    digest = hashlib.sha256(f"{FORMAT} {version('lm_eval')} {resolve_includes} {root.resolve()}".encode())
    for dirpath, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            if name.endswith(".yaml"):
                st = os.stat(os.path.join(dirpath, name))
                digest.update(f"{dirpath}/{name} {st.st_size} {st.st_mtime_ns}\n".encode())
    return paths.cache_dir() / "lm-eval-index" / f"{digest.hexdigest()[:24]}.pickle"
