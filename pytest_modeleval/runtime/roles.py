"""The other models a run may use besides the one under evaluation: the judge and the production checkpoint.

Each gets its own engine (built by the same `pytest_modeleval_make_engine` hook, on first
need) and its own predictor over the shared prediction cache, so its answers are keyed by
its own hash. A role that resolves to the model under evaluation reuses that engine.
Production answers are read from the results DB first (the promoted run's outcome rows):
a rerun against an unchanged production checkpoint loads no second model.
"""

from __future__ import annotations

import threading

from ..engines.base import EngineError


class NoProduction(EngineError):
    """reference="production" before anything is promoted: the items are skipped, not failed."""


class Roles:
    def __init__(self, session, judge=None):
        self.session = session
        self.judge = judge  # the resolved --judge, or None
        self._engines: dict[str, object] = {}
        self._predictors: dict[str, object] = {}
        self._resolved: dict[str, object] = {}
        self._answers: dict[str, dict] = {}  # suite -> (item_id, variant) -> production answer
        self._lock = threading.Lock()

    # --- which model plays a role -----------------------------------------------------------------
    def resolved(self, role: str):
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

    def _production_model(self):
        from ..modelref import ModelRefError, resolve

        promotion = self._promotion()
        if promotion is None:
            raise NoProduction("reference='production': nothing is promoted to channel 'production' yet, so there "
                               "is nothing to compare with (`modeleval promote MODEL --channel production`)")
        model_hash, ref = promotion["model_hash"], promotion["model_ref"]
        if model_hash == self.session.resolved.sha256:
            return self.session.resolved
        settings = self.session.settings
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

    # --- engines and predictors -----------------------------------------------------------------
    def engine(self, role: str):
        with self._lock:
            if role not in self._engines:
                resolved = self.resolved(role)
                if resolved.sha256 == self.session.resolved.sha256:
                    self._engines[role] = self.session.engine()
                else:
                    engine = self.session.config.hook.pytest_modeleval_make_engine(
                        resolved=resolved, settings=self.session.settings)
                    if engine is None:
                        raise EngineError(f"no engine can run the {role} model {resolved.ref!r}")
                    self._engines[role] = engine
            return self._engines[role]

    def predictor(self, role: str):
        if role not in self._predictors:
            from .predictor import Predictor

            main = self.session.predictor
            self._predictors[role] = Predictor(lambda: self.engine(role), main.cache, self.resolved(role).sha256,
                                               main.batch_size, shared=main.shared, progress=None,
                                               run_started=main.run_started)
        return self._predictors[role]

    # --- production answers ---------------------------------------------------------------------
    def production_answer(self, suite: str, item) -> str | None:
        """The production run's answer to this item of this suite, if it was recorded."""
        if suite not in self._answers:
            self._answers[suite] = self._load_answers(suite)
        return self._answers[suite].get((item.id, item.variant))

    def _promotion(self) -> dict | None:
        from ..results.db import reading
        from ..results.gating import promoted_run

        with reading(self.session.settings.db, tables=("runs", "promotions")) as db:
            if db is None:  # no DB, or one without promotions yet
                return None
            return promoted_run(db, "production")

    def _load_answers(self, suite: str) -> dict:
        from ..results.db import reading
        from ..results.runs import responses

        promotion = self._promotion()
        if promotion is None:
            return {}
        with reading(self.session.settings.db) as db:
            return responses(db, promotion["run_id"], suite)
