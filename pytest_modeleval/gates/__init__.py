"""Promotion gates: per-suite verdicts on a run, against fixed thresholds and a paired baseline.

At the end of a session the controller turns the recorded outcomes into one verdict per gate
and suite (`evaluate`), shows them in the terminal, the results DB and the JUnit XML, and sets
the exit status to GATES_FAILED when one fails. Modules: `rules` (what a gate is, the defaults,
`[tool.modeleval.gates]`), `evaluate` (the statistics and the noise rule), `baseline` (which run
to compare against), `overrides` (the committed overrides file), `verdicts` (the one gating path over
the run's features, for a session and for `modeleval gate`), `regate` (gating a run the results DB
holds), `save` (the verdicts into the results DB), `table` (the terminal's gates section), `junit`
(one JUnit testcase per gate), `display` (how a value or a p-value is printed), `comparison` (two runs
compared suite by suite, for `modeleval compare` and the dashboard).
The pytest side (the gate keeper) is plugin/gatekeeper.py.

Nothing here is imported when pytest loads the plugin; numpy only when a session ends with outcomes.
"""

GATES_FAILED = 10
"""The exit status of a run whose gates failed (pytest itself uses 0 to 5)."""
