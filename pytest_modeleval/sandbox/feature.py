"""The sandbox's part in a run (a run feature, runtime/features.py): which backend ran the model's code.

The `sandbox` fixture (fixture.py) puts the backend it used on each test (stash.SANDBOX_KEY); the
payload carries it to the controller, which records it once in the run record (`runs.sandbox`). The
header warns before any test when the run lets model-written code run without isolation.
"""

from __future__ import annotations

from ..runtime.features import RunContext, RunFeature
from ..stash import SANDBOX_KEY


class RunSandbox(RunFeature):
    records = "the sandbox"

    def __init__(self, choice: str | None = None):
        self.choice = choice  # --eval-sandbox
        self.used: str | None = None  # the backend the first sandboxed test ran in
        self._recorded = False

    @classmethod
    def for_run(cls, run: RunContext) -> RunSandbox:
        return cls(run.settings.sandbox)

    def __bool__(self) -> bool:
        return self.used is not None and not self._recorded

    def header_lines(self) -> list[str]:
        from .unsafe import UNSAFE_CHOICE

        if self.choice != UNSAFE_CHOICE:
            return []
        from .fixture import UNSAFE_WARNING

        return [UNSAFE_WARNING]

    def payload(self, item) -> dict:
        return {"sandbox": item.stash.get(SANDBOX_KEY, None)}

    def collect(self, payload: dict) -> None:
        if payload.get("sandbox") and self.used is None:
            self.used = payload["sandbox"]

    def record_outcome(self, store, run_id: int, payload: dict) -> None:
        if self.used is not None and not self._recorded:
            store.update_run(run_id, {"sandbox": self.used})
            self._recorded = True
