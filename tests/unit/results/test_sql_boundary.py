"""results/ is the only code that writes SQL on the results DB (issue 18): a walk of the package's source.

What counts as results-DB SQL, read from the syntax tree (comments and docstrings do not count):
- a string constant that starts with an SQL statement word in capitals (SELECT, INSERT, UPDATE, DELETE,
  CREATE, ALTER, WITH), f-strings and implicitly joined strings included;
- a call of a query method (`query`, `execute`, `rows_where`, `insert`, `upsert`, `table_names`, ...) on a
  DB-looking object: one whose dotted name has a part called db, conn, store or database;
- any attribute of a table reached by subscript, `db["outcomes"].insert_all(...)`, `db["runs"].columns_dict`.
The prediction cache (runtime/cache/) is another DB with its own store, and is exempt with results/.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import pytest_modeleval

PACKAGE = Path(pytest_modeleval.__file__).parent
EXEMPT = ("results/", "runtime/cache/")  # the two stores that own their DB's SQL

STATEMENT = re.compile(r"\s*\(?\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|WITH)\s")
METHODS = {"query", "execute", "executemany", "rows_where", "insert", "insert_all", "upsert", "upsert_all",
           "delete_where", "table_names", "columns"}
DB_NAMES = {"db", "conn", "store", "database"}


def _parts(node) -> list[str]:
    """The names of a dotted expression (`self.store.db` -> self, store, db); calls and subscripts end it."""
    names = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        names.append(node.id)
    return names


def _db_looking(node) -> bool:
    return any(name in DB_NAMES or name.endswith("_db") for name in _parts(node))


def _docstrings(tree) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def sql_in(source: str) -> list[tuple[int, str]]:
    """(line, what) for each piece of results-DB SQL in one module's source."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if STATEMENT.match(node.value):
                found.append((node.lineno, f"SQL string {node.value.strip()[:40]!r}"))
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Subscript) \
                and _db_looking(node.value.value):
            found.append((node.lineno, f"table access {ast.unparse(node)[:60]}"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in METHODS \
                and _db_looking(node.func.value):
            found.append((node.lineno, f"query call {ast.unparse(node.func)}(...)"))
    return sorted(set(found))


def scan(root: Path) -> list[str]:
    """'path:line: what' for the SQL of every module under root outside the exempt stores."""
    out = []
    for path in sorted(root.rglob("*.py")):
        name = path.relative_to(root).as_posix()
        if name.startswith(EXEMPT):
            continue
        out += [f"{name}:{line}: {what}" for line, what in sql_in(path.read_text(encoding="utf-8"))]
    return out


def test_no_results_sql_outside_results():
    found = scan(PACKAGE)
    assert not found, "results-DB SQL outside pytest_modeleval/results/ (move it into a named function there):\n" \
                      + "\n".join(found)


@pytest.mark.parametrize("planted, what", [
    ('rows = db.query("SELECT id FROM runs")\n', "query call db.query"),
    ('sql = f"DELETE FROM {table} WHERE run_id = ?"\n', "SQL string 'DELETE FROM"),
    ('self.store.db["gates"].insert_all(rows)\n', 'table access self.store.db["gates"].insert_all'),
    ('if "runs" in conn.table_names():\n    pass\n', "query call conn.table_names"),
    ('cols = db["outcomes"].columns_dict\n', "table access db[\'outcomes\'].columns_dict"),
])
def test_a_planted_query_is_found_with_its_file_and_line(tmp_path, planted, what):
    root = tmp_path / "pkg"
    (root / "cli").mkdir(parents=True)
    (root / "results").mkdir()
    (root / "cli" / "planted.py").write_text('"""SELECT in a docstring is prose."""\nx = 1\n' + planted)
    (root / "results" / "queries.py").write_text(planted)  # results/ may
    found = scan(root)
    assert found and all(line.startswith("cli/planted.py:3: ") for line in found), found
    assert any(line.split(": ", 1)[1].replace('"', "'").startswith(what.replace('"', "'")) for line in found), found


@pytest.mark.parametrize("fine", [
    "planner.execute(plans)\n",  # the planner's rounds, not SQL
    "sys.path.insert(0, here)\n",
    "'Update the summary when a test ends'\n",
    "message = 'selected 3 items'\n",
    "row['id']\n",
])
def test_what_is_not_results_sql(fine):
    assert sql_in(fine) == []
