"""`modeleval cache stats|prune`: look into and trim the prediction cache (a file or a PostgreSQL URL)."""

from __future__ import annotations

import datetime
import os

from ..paths import CACHE_DB

DEFAULT = CACHE_DB.as_posix()  # relative to the directory the command runs in


def add_parser(sub) -> None:
    parser = sub.add_parser("cache", help="inspect or prune the prediction cache")
    parser.add_argument("action", choices=("stats", "prune"))
    parser.add_argument("--db", default=None,
                        help=f"cache file or URL (default $MODELEVAL_CACHE_DB, else {DEFAULT})")
    parser.add_argument("--model", help="prune: only predictions of this model hash (sha256:<prefix>)")
    parser.add_argument("--older-than-days", type=float, help="prune: only predictions older than N days")
    parser.add_argument("--all", action="store_true", help="prune: everything (required without a filter)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from .. import dburl
    from ..dburl import DatabaseURLError
    from ..runtime.cache.store import CacheError, PredictionCache

    target = args.db or os.environ.get("MODELEVAL_CACHE_DB") or DEFAULT
    try:
        path = dburl.local_path(target, "--eval-cache-db")
        if path is not None and not path.exists():
            print(f"modeleval cache: {path} does not exist (nothing cached yet)")
            return 1
        cache = PredictionCache(target, "readwrite")
    except (CacheError, DatabaseURLError, RuntimeError) as exc:
        print(f"modeleval cache: {exc}")
        return 1
    try:
        if args.action == "stats":
            return _stats(cache)
        if not (args.model or args.older_than_days is not None or args.all):
            print("modeleval cache prune: name --model, --older-than-days or --all")
            return 2
        deleted = cache.prune(model_prefix=args.model, older_than_days=args.older_than_days)
        print(f"modeleval cache: deleted {deleted} predictions from {dburl.redact(str(target))}")
        return 0
    except CacheError as exc:
        print(f"modeleval cache: {exc}")
        return 1
    finally:
        cache.close()


def _stats(cache) -> int:
    rows = cache.stats()
    if not rows:
        print(f"{cache.name}: empty")
        return 0
    print(f"{cache.name}: {sum(r['predictions'] for r in rows)} predictions, {cache.size_bytes()} bytes")
    print(f"{'model':<20} {'kind':<22} {'predictions':>11} {'tokens in':>10} {'tokens out':>10}  newest")
    for r in rows:
        newest = datetime.datetime.fromtimestamp(r["newest"]).isoformat(timespec="seconds")
        print(f"sha256:{r['model_hash'][:12]:<13} {r['kind']:<22} {r['predictions']:>11} "
              f"{r['prompt_tokens']:>10} {r['completion_tokens']:>10}  {newest}")
    return 0
