"""The prediction cache: keyed by (model hash, request, sampling), on SQLite or PostgreSQL, with claims
so that no prediction is computed twice across processes or machines (store.py is the entry)."""
