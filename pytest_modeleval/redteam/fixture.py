"""How a red-team result lands on its test: the DB row, the gate's metric, an error when unclassified."""

from __future__ import annotations


class RefusalError(RuntimeError):
    """The judge classifier gave no readable class after its retries: an error, not a refusal or not."""


def recorded(request, result):
    from ..stash import METRICS_KEY, REFUSAL_KEY
    from .declare import METRIC

    node = request.node
    node.stash[REFUSAL_KEY] = result.record()
    if result.error is not None:
        raise RefusalError(result.error)
    node.stash.setdefault(METRICS_KEY, {})[METRIC[result.kind]] = float(result.refused)
    return result
