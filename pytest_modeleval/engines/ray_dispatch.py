"""Batches to replicas: bounded work in flight per replica, in the order given (longest first), and
what happens when a replica dies, fails or hangs.

- A replica that dies (killed process, OOM) loses only its in-flight batches; they go back to the
  front of the queue for the survivors. Ray restarts the actor (it loads the model again); the
  replica gets work again once it answers a probe, and is dropped if Ray gives up on it.
- A batch that raises on a replica is tried on another; a batch that fails on two replicas (or on
  the only one) is that batch's error, because then it is the request, not the replica.
- A replica failing `max_failures` times in a row is dropped, with a ReplicaWarning.
- A batch running longer than `timeout` seconds marks its replica stuck: it is killed (Ray restarts
  it when it may) and its batches are re-sent.
- With no replica left, every batch not yet computed is an EngineError naming the cluster.

Results come back as each batch returns, so the caller writes them to the cache at once: nothing
computed is lost, and nothing that came back is asked again.
"""

from __future__ import annotations

import time
import warnings
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from .base import EngineError

PROBE_EVERY = 0.5  # seconds between probes of a restarting replica


class ReplicaWarning(UserWarning):
    """A replica was lost, stuck or dropped; the run goes on with the others."""


@dataclass
class Task:
    batch: int
    ref: object
    started: float | None = None  # when it became the replica's running task (actor tasks run in order)


@dataclass
class ReplicaState:
    index: int
    actor: Any  # a Ray actor handle
    failures: int = 0  # in a row
    alive: bool = True
    last_error: str = ""
    in_flight: deque = field(default_factory=deque)
    probe: object = None  # while restarting: the ref of a call that answers once the actor is back
    probe_sent: float = 0.0
    down_since: float = 0.0

    @property
    def ready(self) -> bool:
        return self.alive and self.probe is None


class Dispatcher:
    def __init__(self, ray, actors: Sequence, cluster: str, *, timeout: float = 600.0, max_failures: int = 3,
                 max_in_flight: int = 2):
        self.ray = ray
        self.replicas = [ReplicaState(i + 1, actor) for i, actor in enumerate(actors)]
        self.cluster = cluster  # "local Ray", "Ray at ADDRESS": named in every error
        self.timeout = timeout
        self.max_failures = max_failures
        self.max_in_flight = max_in_flight
        self.events: list[tuple[str, int, int]] = []  # (what, replica, batch): sent, returned, lost, failed

    @property
    def live(self) -> list[ReplicaState]:
        return [r for r in self.replicas if r.alive]

    def map(self, method: str, batches: Sequence[list]) -> Iterator[tuple[int, object]]:
        """(batch index, results or EngineError) for every batch, in the order they return."""
        self._queue: deque = deque(range(len(batches)))
        self._owner: dict = {}  # ref -> (replica, task)
        self._failed_on: dict[int, set[int]] = {}
        self._deaths: dict[int, int] = {}
        while self._queue or self._owner:
            if not self.live:
                for batch in sorted(self._queue):
                    yield batch, self._none_left(len(self._queue))
                return
            self._fill(method, batches)
            probes = {r.probe: r for r in self.live if r.probe is not None and r.probe is not False}
            waiting = list(self._owner) + list(probes)
            ready, _ = self.ray.wait(waiting, num_returns=1, timeout=self._wait_time()) if waiting else ([], [])
            if not waiting:
                time.sleep(PROBE_EVERY)
            for ref in ready:
                if ref in probes:
                    self._probed(probes[ref])
                elif ref in self._owner:  # not when its replica was declared stuck or dead meanwhile
                    yield from self._settle(*self._owner.pop(ref))
            self._check_stuck()
            self._reprobe()

    # --- sending --------------------------------------------------------------------------------
    def _fill(self, method, batches) -> None:
        """Top each ready replica up to max_in_flight, the least loaded first."""
        now = time.monotonic()
        while self._queue:
            ready = [r for r in self.live if r.ready]
            if not ready:
                return
            replica = min(ready, key=lambda r: len(r.in_flight))
            if len(replica.in_flight) >= self.max_in_flight:
                return
            batch = self._queue.popleft()
            task = Task(batch, replica.actor.call.remote(method, batches[batch]))
            if not replica.in_flight:
                task.started = now
            replica.in_flight.append(task)
            self._owner[task.ref] = (replica, task)
            self.events.append(("sent", replica.index, batch))

    def _wait_time(self) -> float:
        """Until the earliest running batch would pass the timeout (a probe is looked at every PROBE_EVERY)."""
        now = time.monotonic()
        deadlines = [r.in_flight[0].started + self.timeout for r in self.live
                     if r.in_flight and r.in_flight[0].started is not None]
        deadlines += [now + PROBE_EVERY for r in self.live if r.probe is not None]
        return max(0.01, min(deadlines) - now) if deadlines else self.timeout

    # --- what came back -------------------------------------------------------------------------
    def _settle(self, replica: ReplicaState, task: Task):
        ray = self.ray
        self._retire(replica, task)
        try:
            result = ray.get(task.ref)
        except _actor_errors(ray) as exc:
            # the process is gone (killed, OOM) or restarting: this batch and the others it held are lost
            self._lose(replica, f"died ({_first_line(exc)})", [task])
            self._deaths[task.batch] = self._deaths.get(task.batch, 0) + 1
            if self._deaths[task.batch] > self.max_failures and task.batch in self._queue:
                self._queue.remove(task.batch)  # it takes every replica down with it
                yield task.batch, EngineError(f"{self.cluster}: a batch was lost with its replica "
                                              f"{self._deaths[task.batch]} times; giving up on it")
            return
        except Exception as exc:  # noqa: BLE001 - the engine raised in the replica
            cause = _cause(exc)
            self.events.append(("failed", replica.index, task.batch))
            tried = self._failed_on.setdefault(task.batch, set())
            tried.add(replica.index)
            self._fault(replica, cause)
            if len(tried) >= min(2, len(self.replicas)) or not self.live:
                yield task.batch, EngineError(f"{self.cluster}: replica {replica.index} of {len(self.replicas)}: "
                                              f"{cause}")
            else:
                self._queue.appendleft(task.batch)
            return
        replica.failures = 0
        self.events.append(("returned", replica.index, task.batch))
        yield task.batch, result

    def _retire(self, replica: ReplicaState, task: Task) -> None:
        """The task left its replica; the next one there starts running now."""
        if task in replica.in_flight:
            replica.in_flight.remove(task)
        if replica.in_flight and replica.in_flight[0].started is None:
            replica.in_flight[0].started = time.monotonic()

    def _check_stuck(self) -> None:
        now = time.monotonic()
        for replica in self.live:
            head = replica.in_flight[0] if replica.in_flight else None
            if head is None or head.started is None or now - head.started < self.timeout:
                continue
            self.ray.kill(replica.actor, no_restart=False)  # Ray restarts it if it may: a hang, not a bug
            self._lose(replica, f"took more than {self.timeout:g} s on one batch and was killed", [])

    def _lose(self, replica: ReplicaState, why: str, tasks: list) -> None:
        """The replica lost its in-flight batches (back to the front of the queue, in their order) and
        gets none until it answers a probe."""
        lost = tasks + list(replica.in_flight)
        self._requeue(replica, lost)
        warnings.warn(f"modeleval: {self.cluster}: engine replica {replica.index} {why}; "
                      f"{len(lost)} batches re-sent", ReplicaWarning, stacklevel=3)
        self._fault(replica, why)
        if replica.alive:
            replica.down_since = time.monotonic()
            self._send_probe(replica)

    def _requeue(self, replica: ReplicaState, tasks: list) -> None:
        for task in tasks:
            self._owner.pop(task.ref, None)
            self.events.append(("lost", replica.index, task.batch))
        replica.in_flight.clear()
        self._queue.extendleft(sorted((t.batch for t in tasks), reverse=True))

    # --- restarts -------------------------------------------------------------------------------
    def _send_probe(self, replica: ReplicaState) -> None:
        replica.probe, replica.probe_sent = replica.actor.pid.remote(), time.monotonic()

    def _probed(self, replica: ReplicaState) -> None:
        """A restarting replica's probe answered: back at work, still restarting (probe again), or gone."""
        ref, replica.probe = replica.probe, None
        try:
            self.ray.get(ref)
        except getattr(self.ray.exceptions, "ActorUnavailableError", ()) as exc:
            replica.last_error = _first_line(exc)
            replica.probe = False  # probed again after PROBE_EVERY (see _reprobe)
        except Exception as exc:  # noqa: BLE001 - dead for good: Ray will not restart it again
            self._drop(replica, f"did not come back ({_first_line(exc)})")
            return
        if replica.probe is False and time.monotonic() - replica.down_since > self.timeout:
            self._drop(replica, f"did not come back in {self.timeout:g} s")

    def _reprobe(self) -> None:
        for replica in self.live:
            if replica.probe is False and time.monotonic() - replica.probe_sent >= PROBE_EVERY:
                self._send_probe(replica)

    # --- failures -------------------------------------------------------------------------------
    def _fault(self, replica: ReplicaState, why: str) -> None:
        replica.failures += 1
        replica.last_error = why
        if replica.failures >= self.max_failures:
            self._drop(replica, f"after {replica.failures} failures in a row (last: {why})")

    def _drop(self, replica: ReplicaState, why: str) -> None:
        replica.alive, replica.probe = False, None
        replica.last_error = why
        self._requeue(replica, list(replica.in_flight))
        try:
            self.ray.kill(replica.actor, no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass
        warnings.warn(f"modeleval: {self.cluster}: engine replica {replica.index} dropped {why}; "
                      f"{len(self.live)} left", ReplicaWarning, stacklevel=4)

    def _none_left(self, remaining: int) -> EngineError:
        last = "; ".join(f"replica {r.index}: {r.last_error}" for r in self.replicas if r.last_error)
        return EngineError(f"{self.cluster}: no engine replica left ({len(self.replicas)} dropped); "
                           f"{remaining} batches not computed ({last})")


def _actor_errors(ray) -> tuple:
    """What Ray raises for a call whose actor died or is restarting (ActorUnavailableError: Ray >= 2.30)."""
    return tuple(e for e in (getattr(ray.exceptions, "RayActorError", None),
                             getattr(ray.exceptions, "ActorUnavailableError", None)) if e is not None)


def _cause(exc: BaseException) -> str:
    """The engine's own message from a RayTaskError (its cause), else the error's first line."""
    cause = getattr(exc, "cause", None)
    return _first_line(cause if cause is not None else exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()
