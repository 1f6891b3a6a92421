"""The results database: its schema and migrations, the store a session records into, run tallies,
run groups and merges. The one way into the results DB's tables (docs/database.md): no module outside
this package writes SQL on it (tests/unit/results/test_sql_boundary.py checks).

The reads and writes other layers need are named functions, one module per subject: `runs` (naming a
run, its row, listings, its outcomes' values), `gating` (promotions and gate verdicts), `judging`
(judgments, validations, human samples and labels), `contamination` (the variant library and CS),
`dashboard` (what the report reads), `watch_queue` (`modeleval watch`'s claims), `prune` (deleting old
runs) and `transfer` (export and `db copy`).
"""
