"""A results DB that cannot be opened or read is one usage error naming --eval-db and the target without its
password, before any test runs (issue 27: it was an INTERNALERROR, exit 3, with a traceback)."""

from __future__ import annotations

import pytest

SUITE = """
import pytest_modeleval as modeleval

@modeleval.suite("s", data=[{"q": "hi"}])
def test_s(item):
    pass
"""


@pytest.mark.parametrize("target, shown, cause", [
    ("not-a-db.sqlite", "/not-a-db.sqlite", "file is not a database"),
    ("postgresql://u:sekrit@127.0.0.1:1/db", "postgresql://u:***@127.0.0.1:1/db", "Connection refused"),
    ("host=127.0.0.1 port=1 user=u password=sekrit dbname=x", "postgresql://u:***@127.0.0.1:1/x", "Connection refused"),
], ids=["corrupt-file", "unreachable-url", "unreachable-keywords"])
@pytest.mark.parametrize("gates", ["enforce", "off"])
def test_a_results_db_that_cannot_be_opened_is_a_usage_error(pytester, target, shown, cause, gates):
    pytester.makepyfile(test_suite=SUITE)
    (pytester.path / "not-a-db.sqlite").write_text("garbage, not a database " * 20)
    result = pytester.runpytest_inprocess("--model=embedded", f"--eval-db={target}", f"--eval-gate-mode={gates}",
                                          "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    error = "\n".join(result.errlines)
    assert ("--eval-db " in error and f"{shown}: cannot open" in error) and "cannot open the results database" in error and cause in error
    assert "sekrit" not in error + "\n".join(result.outlines) and "INTERNALERROR" not in error
