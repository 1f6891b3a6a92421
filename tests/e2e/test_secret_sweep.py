"""Issue 27's secret probes, kept as tests: a password planted in each form a DSN takes (URL userinfo, a
`?password=` query parameter, a libpq keyword string, the environment variable) and in an `openai:`
reference must appear nowhere a run or a command writes: the terminal, the JUnit XML, any table of the
results DB, `modeleval export` and `show`, the dashboard's files, the names of files. The planted DSN is the
prediction cache's with the cache off (never connected to), so SQLite is the only DB the sweep needs."""

from __future__ import annotations

import sqlite3

import pytest

import evalkit  # noqa: F401  (loads the C extensions before any in-process run: see evalkit.py)

from pytest_modeleval import config, dburl
from pytest_modeleval.cli import main as modeleval
from test_gates_session import DB, run, write

FORMS = {  # form -> the DSN, each with its own password
    "userinfo": "postgresql://ci:PW-userinfo-1@127.0.0.1:9/evals",
    "query": "postgresql://ci@127.0.0.1:9/evals?sslmode=disable&password=PW-query-2",
    "keywords": "host=127.0.0.1 port=9 user=ci password='PW-keywords-3' dbname=evals",
}
ENV_PASSWORD = "PW-environment-4"


def found_in(text: str) -> list[str]:
    return [pw for pw in [*(dsn.split("PW-", 1)[1][:12] for dsn in FORMS.values())] if f"PW-{pw}" in text] + \
        ([ENV_PASSWORD] if ENV_PASSWORD in text else [])


def test_no_planted_password_is_printed_stored_exported_or_shown(pytester, capsys, monkeypatch, tmp_path):
    write(pytester, 3, 1)
    outputs = []
    for form, dsn in FORMS.items():
        result = run(pytester, "--eval-cache=off", f"--eval-cache-db={dsn}", f"--junitxml={form}.xml")
        assert result.ret == 0, result.stdout.str()  # recorded, with one wrong item
        outputs += result.outlines + result.errlines
    monkeypatch.setenv("MODELEVAL_CACHE_DB", f"postgresql://ci@127.0.0.1:9/evals?password={ENV_PASSWORD}")
    result = run(pytester, "--eval-cache=off", "--junitxml=env.xml")
    outputs += result.outlines + result.errlines
    monkeypatch.delenv("MODELEVAL_CACHE_DB")
    bad_ref = run(pytester, "--judge=openai:http://ci:PW-openai-5@127.0.0.1:9/v1#judge")
    assert bad_ref.ret == pytest.ExitCode.USAGE_ERROR
    outputs += bad_ref.outlines + bad_ref.errlines

    db = pytester.path / DB
    tables = "\n".join(sqlite3.connect(db).iterdump())
    for command in (["export", "--db", str(db)], ["show", "latest", "--db", str(db)],
                    ["report", "--html", str(tmp_path / "dash"), "--db", str(db)]):
        assert modeleval(command) == 0
    captured = capsys.readouterr()
    dashboard = "\n".join(p.read_text(errors="replace") for p in (tmp_path / "dash").rglob("*") if p.is_file())
    junit = "\n".join(p.read_text() for p in pytester.path.glob("*.xml"))
    names = "\n".join(str(p) for p in pytester.path.rglob("*"))

    # the plants reached the record (redacted), so the sweep looks where they would be
    assert "cache_db" in tables and "password=***" in tables and "ci:***@" in tables
    for where, text in {"terminal": "\n".join(outputs), "JUnit XML": junit, "results DB": tables,
                        "export, show, report": captured.out + captured.err, "dashboard": dashboard,
                        "file names": names}.items():
        assert found_in(text) == [] and "PW-openai-5" not in text, where


@pytest.mark.parametrize("dsn", list(FORMS.values()))
def test_every_dsn_form_is_redacted_and_a_keyword_string_is_postgresql(dsn, tmp_path):
    assert "PW-" not in dburl.redact(dsn) and "PW-" not in dburl.redact_text(f"pytest --eval-db {dsn} -q")
    settings = config.build_settings({"db": dsn}, tmp_path / "pyproject.toml", tmp_path, tmp_path)
    assert isinstance(settings.db, str) and dburl.local_path(settings.db) is None  # a server, never a file
    assert dburl.backend(settings.db) == "postgresql+psycopg"
    assert "PW-" not in dburl.redact(settings.db)


def test_a_keyword_string_means_the_same_connection():
    url = dburl.normalize("host=db.internal port=6543 user=ci password='a b@c' dbname=evals sslmode=require")
    assert url == "postgresql://ci:a%20b%40c@db.internal:6543/evals?sslmode=require"
    assert dburl.normalize("relative/results.sqlite") == "relative/results.sqlite"
    assert dburl.normalize("x=1") == "x=1"  # no libpq keyword: a file's name after all


def test_an_invalid_db_value_names_it_without_its_password(tmp_path):
    with pytest.raises(config.ConfigError) as info:
        config.build_settings({"db": "mysql://ci:PW-mysql@h/db?password=PW-q"}, tmp_path / "p.toml", tmp_path,
                              tmp_path)
    assert "PW-" not in str(info.value) and "mysql" in str(info.value)
