"""The results database: its schema and migrations, the store a session records into, run tallies,
run groups and merges. The one way into the results DB's tables (docs/database.md)."""
