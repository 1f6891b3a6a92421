"""The models a run uses, in one pool: the model under evaluation, the judge and the reference (production).

Each role gets its engine on first need, built by the `make_engine` callable the composition root
passes in (the plugin passes its `pytest_modeleval_make_engine` hook; the runtime never reaches up
for it), and its own predictor over the one prediction cache, so its answers are keyed by its own
hash. A role that resolves to the model under evaluation reuses that engine. Production answers are
read from the results DB first (the promoted run's outcome rows): a rerun against an unchanged
production checkpoint loads no second model.

What a run prints while it computes (an engine's description once it is ready, progress lines) goes
to the `say` and `progress` callables, so the pool knows no terminal.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable

from ..engines.base import EngineError

if TYPE_CHECKING:
    from .predictor import Predictor

ROLES = ("model", "judge", "reference")


class NoProduction(EngineError):
    """reference="production" before anything is promoted: the items are skipped, not failed."""


class CacheUnavailable(Exception):
    """The prediction cache cannot be opened (a bad --eval-cache-db): the message names it, redacted."""


class ModelPool:
    """Engines and predictors for every role of a run, each built on first need.

    `make_engine(resolved, settings)`: an Engine for a resolved model, or None when nothing can run it.
    `judge`: the resolved --judge, or None. `shared`: other processes (xdist workers) use the same cache;
    `run_started`: the run's start, for a worker to count its peers' predictions as this run's work.
    """

    def __init__(self, resolved, settings, make_engine: Callable, *, judge=None, shared: bool = False,
                 run_started: float | None = None, progress: Callable[[str, int, int, float], None] | None = None,
                 say: Callable[[str], None] | None = None):
        self.resolved = resolved  # the model under evaluation
        self.settings = settings
        self.judge = judge
        self._make_engine = make_engine
        self._shared = shared
        self._run_started = run_started
        self._progress = progress
        self._say = say or (lambda line: None)
        self._engine = None
        self._engine_error: Exception | None = None
        self._engine_lock = threading.Lock()
        self._predictor: Predictor | None = None
        self._engines: dict[str, object] = {}  # the judge's and the reference's
        self._predictors: dict[str, object] = {}
        self._resolved: dict[str, object] = {}
        self._answers: dict[str, dict] = {}  # suite -> (item_id, variant) -> production answer
        self._roles_lock = threading.Lock()

    # --- the model under evaluation ----------------------------------------------------------------
    def engine(self, role: str = "model"):
        """The engine of a role; the model's is built once, and a failed load is remembered, not retried per test."""
        if role != "model":
            return self._role_engine(role)
        with self._engine_lock:
            if self._engine is None and self._engine_error is None:
                try:
                    self._engine = self._make_engine(self.resolved, self.settings)
                    if self._engine is None:
                        raise EngineError(f"no engine can run model {self.resolved.ref!r} "
                                          f"(kind {self.resolved.kind})")
                    if hasattr(self._engine, "describe"):  # where the Ray engine's replicas run, once ready
                        self._say(f"modeleval: {self._engine.describe()}")
                except Exception as exc:  # noqa: BLE001 - reported to every test that needs the model
                    self._engine_error = exc
            if self._engine_error is not None:
                raise self._engine_error
            return self._engine

    @property
    def loaded(self):
        """The model's engine if it was built, else None (nothing is loaded to answer)."""
        return self._engine

    def predictor(self, role: str = "model"):
        """The predictor of a role: cache + engine. The model's opens the prediction cache (CacheUnavailable)."""
        if role != "model":
            return self._role_predictor(role)
        if self._predictor is None:
            from ..dburl import redact
            from .cache.store import PredictionCache
            from .predictor import Predictor

            s = self.settings
            try:
                cache = PredictionCache(s.cache_db, s.cache, s.cache_lease)
            except Exception as exc:  # noqa: BLE001
                raise CacheUnavailable(f"--eval-cache-db {redact(s.cache_db)}: cannot open the prediction cache: "
                                       f"{exc}") from None
            # xdist workers share the cache file; on a shared server every process may have peers
            self._predictor = Predictor(self.engine, cache, self.resolved.sha256, s.batch_size,
                                        shared=self._shared or cache.shared, progress=self._progress,
                                        run_started=self._run_started)
        return self._predictor

    def render(self, prompt, chat: bool, role: str = "model") -> str:
        """The exact text a role's engine sees for a prompt."""
        return self.engine(role).render(prompt, chat)

    def close(self) -> None:
        """The prediction cache, then the Ray engine's replicas and the Ray this run started (if it was used)."""
        import sys

        if self._predictor is not None:
            self._predictor.cache.close()
        close = getattr(self._engine, "close", None)
        if close is not None:
            close()
        cluster = sys.modules.get("pytest_modeleval.engines.ray_cluster")  # imported only if Ray was used
        if cluster is not None:
            cluster.disconnect()

    # --- the judge and the reference ---------------------------------------------------------------
    def resolved_for(self, role: str):
        """Which model plays a role."""
        if role == "model":
            return self.resolved
        if role not in self._resolved:
            if role == "judge":
                if self.judge is None:
                    raise EngineError("this suite needs a judge: pass --judge=REF (any model reference)")
                self._resolved[role] = self.judge
            elif role == "reference":
                self._resolved[role] = self._production_model()
            else:
                raise EngineError(f"unknown model role {role!r}")
        return self._resolved[role]

    def _role_engine(self, role: str):
        with self._roles_lock:
            if role not in self._engines:
                resolved = self.resolved_for(role)
                if resolved.sha256 == self.resolved.sha256:
                    self._engines[role] = self.engine()
                else:
                    engine = self._make_engine(resolved, self.settings)
                    if engine is None:
                        raise EngineError(f"no engine can run the {role} model {resolved.ref!r}")
                    self._engines[role] = engine
            return self._engines[role]

    def _role_predictor(self, role: str):
        if role not in self._predictors:
            from .predictor import Predictor

            main = self.predictor()
            self._predictors[role] = Predictor(lambda: self._role_engine(role), main.cache,
                                               self.resolved_for(role).sha256, main.batch_size, shared=main.shared,
                                               progress=None, run_started=main.run_started)
        return self._predictors[role]

    def _production_model(self):
        from ..modelref import ModelRefError, resolve

        promotion = self._promotion()
        if promotion is None:
            raise NoProduction("reference='production': nothing is promoted to channel 'production' yet, so there "
                               "is nothing to compare with (`modeleval promote MODEL --channel production`)")
        model_hash, ref = promotion["model_hash"], promotion["model_ref"]
        if model_hash == self.resolved.sha256:
            return self.resolved
        settings = self.settings
        for candidate in (f"sha256:{model_hash}", ref):
            try:
                resolved = resolve(candidate, registry=settings.registry, base_dir=settings.model_base)
            except ModelRefError:
                continue
            if resolved.sha256 == model_hash:
                return resolved
        raise EngineError(f"the production checkpoint sha256:{model_hash[:12]} (recorded as {ref!r}) has no "
                          "stored answers for some items and cannot be loaded to generate them: put it in "
                          "--eval-registry, or run the suite on it once")

    # --- production answers -------------------------------------------------------------------------
    def production_answer(self, suite: str, item) -> str | None:
        """The production run's answer to this item of this suite, if it was recorded."""
        if suite not in self._answers:
            self._answers[suite] = self._load_answers(suite)
        return self._answers[suite].get((item.id, item.variant))

    def _promotion(self) -> dict | None:
        from ..results.db import reading
        from ..results.gating import promoted_run

        with reading(self.settings.db, tables=("runs", "promotions")) as db:
            if db is None:  # no DB, or one without promotions yet
                return None
            return promoted_run(db, "production")

    def _load_answers(self, suite: str) -> dict:
        from ..results.db import reading
        from ..results.runs import responses

        promotion = self._promotion()
        if promotion is None:
            return {}
        with reading(self.settings.db) as db:
            return responses(db, promotion["run_id"], suite)
