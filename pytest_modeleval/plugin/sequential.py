"""Sequential suites in a session: visit their items in order, compute a round when it is reached, and skip
what is left of a suite once its gates are decided (the statistics are gates/sequential.py's).

Active when the gates are on, a baseline was found, the run is not one shard of several (a shard cannot see
the others' items; the run group's gate replays the decision over their union) and `sequential = true`
names a suite. The controller (or the single process) counts each suite's reported tests per round; when a
round is complete it looks at the suite's gates through `gates.sequential.look`, the same code the end of
the run replays, so what it decided is what the gates table says. Under pytest-xdist the workers learn the
decisions from a small JSON file the controller rewrites in a temporary folder (and the controller learns
the suites' items from the one the first worker writes); a worker that runs a few items past a decision
records them, and the decision, made on its rounds alone, does not change.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from ..stash import ROUND_KEY
from ..suite import MARK

WORKER_INPUT = "modeleval_sequential"  # the folder shared with the xdist workers


class SequentialSuites:
    def __init__(self, config: pytest.Config, settings, rules, keeper, session):
        self.rules = rules
        self.keeper = keeper  # the gate keeper: its baseline and its slim outcome rows
        self.session = session  # the eval session: its run features (what they do to the gates' rows)
        worker = getattr(config, "workerinput", None)
        self.is_worker = worker is not None
        wanted = (rules.sequential or any(rules.sequential_suites.values())) and not settings.shard
        self.folder: Path | None
        if worker is not None:
            shared = worker.get(WORKER_INPUT)
            self.folder = Path(shared) if shared else None
        else:
            self.folder = Path(tempfile.mkdtemp(prefix="modeleval-sequential-")) if wanted else None
        self.ids: dict[str, list[str]] = {}  # sequential suite -> its tests' item ids
        self.suites: list[str] = []  # every suite collected: the family alpha is spent over
        self.orders: dict = {}
        self.reported: dict[str, Counter] = defaultdict(Counter)
        self.looked: dict[str, int] = {}  # suite -> the last round looked at
        self.closed: dict[str, tuple[int, str]] = {}  # suite -> (round, skip reason)
        self.before: dict[str, dict] = {}  # suite -> the baseline's values (metric -> item -> value)
        self._read_at = 0.0

    @property
    def active(self) -> bool:
        if self.folder is None:
            return False
        return self.is_worker or self.keeper.baseline is not None

    # --- collection: the visiting order and the rounds ----------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items):
        from ..gates.sequential import order

        if not self.active:
            return
        by_suite: dict[str, list[int]] = defaultdict(list)
        for index, item in enumerate(items):
            marker = item.get_closest_marker(MARK)
            params = getattr(getattr(item, "callspec", None), "params", {})
            if marker is None or "item" not in params:
                continue
            suite = marker.args[0].name
            if suite not in self.suites:
                self.suites.append(suite)
            if self.rules.is_sequential(suite):
                by_suite[suite].append(index)
        for suite, slots in by_suite.items():
            tests = [items[i] for i in slots]
            ids = [t.callspec.params["item"].id for t in tests]
            plan = order(suite, ids, self.rules.look_every)
            rank = {cluster: i for i, cluster in enumerate(plan.clusters)}
            from ..stats import source_items

            clusters = source_items(ids)
            ranked = sorted(range(len(tests)), key=lambda k: (rank[clusters[k]], ids[k]))
            for slot, k in zip(slots, ranked):  # the suite's tests keep their places among the others', in order
                items[slot] = tests[k]
                tests[k].stash[ROUND_KEY] = (suite, rank[clusters[k]] // plan.per_round)
            self.ids[suite], self.orders[suite] = ids, plan
        if self.is_worker and self.folder is not None:
            _write_once(self.folder / "plan.json", {"ids": self.ids, "suites": self.suites})

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node):
        """pytest-xdist controller: where the workers find the decisions."""
        node.workerinput[WORKER_INPUT] = str(self.folder) if self.active else None

    # --- a decided suite's remaining items --------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        where = item.stash.get(ROUND_KEY, None)
        if where is None:
            return
        closed = self._decisions().get(where[0])
        if closed is not None and where[1] > closed[0]:
            pytest.skip(closed[1])

    def _decisions(self) -> dict:
        if not self.is_worker or self.folder is None:
            return self.closed
        path = self.folder / "decisions.json"
        try:
            changed = path.stat().st_mtime_ns
        except FileNotFoundError:
            return self.closed
        if changed != self._read_at:
            self._read_at = changed
            self.closed = {suite: tuple(value) for suite, value in json.loads(path.read_text()).items()}
        return self.closed

    # --- the controller: count each round, look when one is complete -----------------------------------------
    @pytest.hookimpl(trylast=True)  # after the gate keeper has kept the outcome's row
    def pytest_runtest_logreport(self, report):
        payload = getattr(report, "modeleval", None)
        if payload is None or self.is_worker or not self.active:
            return
        suite = payload["suite"]
        if not self.rules.is_sequential(suite) or suite in self.closed or not self._knows(suite):
            return
        plan = self.orders[suite]
        self.reported[suite][plan.round_of(payload["item_id"])] += 1
        self._look(suite)

    def _knows(self, suite: str) -> bool:
        """Whether the suite's items are known here (under xdist: from the plan the first worker wrote)."""
        if suite in self.orders:
            return True
        path = self.folder / "plan.json" if self.folder is not None else None
        if path is None or not path.exists():
            return False
        from ..gates.sequential import order

        plan = json.loads(path.read_text())
        self.suites = plan["suites"]
        for name, ids in plan["ids"].items():
            self.ids[name], self.orders[name] = ids, order(name, ids, self.rules.look_every)
        return suite in self.orders

    def _look(self, suite: str) -> None:
        from ..gates.evaluate import item_values
        from ..gates.sequential import family_bound, look

        plan = self.orders[suite]
        sizes = [plan.tests_until(r) - (plan.tests_until(r - 1) if r else 0) for r in range(plan.rounds)]
        complete = self.looked.get(suite, -1)
        while complete + 1 < plan.rounds and self.reported[suite][complete + 1] >= sizes[complete + 1]:
            complete += 1
        if complete == self.looked.get(suite, -1) or complete == plan.rounds - 1:
            self.looked[suite] = complete
            return  # nothing new, or every round is in: the end of the run decides
        self.looked[suite] = complete
        if (self.session.suite_meta.get(suite) or {}).get("perturbations"):
            return  # its contamination audit is a gate on every item: the suite runs whole (its gates still decide)
        rows = [row for row in self.keeper.rows.values() if row["suite"] == suite]
        for feature in self.session.features:
            rows = feature.gate_rows(rows)
        if suite not in self.before:
            self.before[suite] = item_values(self.keeper.baseline.rows)[0].get(suite, {})
        seen = look(self.rules, suite, item_values(rows)[0].get(suite, {}), self.before[suite], self.ids[suite],
                    complete, family_bound(self.rules, self.suites))
        if seen.closed:
            self.closed[suite] = (complete, seen.reason(suite))
            if self.folder is not None:
                _write_atomic(self.folder / "decisions.json", {s: list(v) for s, v in self.closed.items()})

    def pytest_unconfigure(self, config):
        if self.folder is not None and not self.is_worker:
            import shutil

            shutil.rmtree(self.folder, ignore_errors=True)


def _write_atomic(path: Path, value) -> None:
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(value))
    os.replace(temporary, path)


def _write_once(path: Path, value) -> None:
    """Every worker collects the same items: the first to write the plan writes it for all."""
    if not path.exists():
        _write_atomic(path, value)
