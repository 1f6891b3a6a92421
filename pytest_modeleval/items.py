"""Suite data: load rows from files, HF datasets or callables, and turn them into Items.

Imported when pytest starts, so it uses only the standard library; `datasets` is
imported lazily and only for `hf:` specs.

Data specs accepted by `load_rows`:

* a path (str or Path) to a ``.jsonl``, ``.json`` or ``.csv`` file, optionally
  followed by ``.gz``; relative paths are resolved against the directory of the
  test file that declares the suite, and ``~`` is expanded;
* ``"hf:NAME[:CONFIG]@SPLIT"``, a Hugging Face dataset read from the local cache
  only, e.g. ``"hf:openai/gsm8k:main@test"`` or ``"hf:openai_humaneval@test"``.
  NAME may contain one ``/``; CONFIG contains neither ``:`` nor ``@``; everything
  after ``@`` is the split, passed to ``datasets`` as is (so ``test[:100]`` works);
* a callable taking no arguments and returning an iterable of dicts;
* a list or tuple of dicts (handy for tiny suites and tests).

Every error about the data is a `DataError` whose message starts with
``FILE:LINE:`` when one row is at fault, so editors and CI logs can jump to it.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import re
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

SUFFIXES = (".jsonl", ".json", ".csv")
MIN_WIDTH = 4
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_SAMPLE = re.compile(r"-p\d+(-s(\d+))$")  # a sample suffix follows the variant: -p0-s2
_JSON_WS = re.compile(r"[ \t\n\r]*")
_HF_SPEC = re.compile(
    r"hf:(?P<name>[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)?)"
    r"(?::(?P<config>[^:@\s]+))?@(?P<split>[^@\s]+)"
)
_HF_FORM = "hf:NAME[:CONFIG]@SPLIT, e.g. hf:openai/gsm8k:main@test"


class DataError(ValueError):
    """Bad suite data: 'FILE:LINE: ...' when a row is at fault, else it names the data spec."""


class MissingFieldError(KeyError):
    """A KeyError whose text prints without the quotes KeyError adds, so the message stays readable."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Source:
    """Where a suite's rows came from; recorded with results so runs can be compared honestly."""

    description: str
    sha256: str | None
    n_rows: int


@dataclass(frozen=True)
class Item:
    """One row of a suite, addressed by a stable id that survives sampling and limits."""

    suite: str
    index: int
    fields: Mapping[str, Any] = field(hash=False)
    variant: int = 0
    width: int = MIN_WIDTH
    key: str | None = None
    library_id: int | None = field(default=None, compare=False)  # the variant library row a -pK item came from
    sample: int | None = None  # the sample index in a suite with samples=K (test id `-sK`), else None

    @property
    def id(self) -> str:
        """`suite-0042-p0`, or `suite-<key>-p0` when the suite names an id_field; `-s2` added for sample 2."""
        middle = _sanitize(self.key) if self.key is not None else f"{self.index:0{self.width}d}"
        drawn = "" if self.sample is None else f"-s{self.sample}"
        return f"{self.suite}-{middle}-p{self.variant}{drawn}"

    def __getitem__(self, name: str) -> Any:
        try:
            return self.fields[name]
        except KeyError:
            available = ", ".join(map(repr, self.fields)) or "none"
            raise MissingFieldError(
                f"item {self.id} has no field {name!r}; available fields: {available}"
            ) from None

    def __contains__(self, name: object) -> bool:
        """Without this, `in` would fall back to __getitem__(0), (1), ... and raise."""
        return name in self.fields

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)


# ---------------------------------------------------------------- entry points


def load_items(
    data: Any,
    *,
    suite: str,
    base_dir: Path,
    seed: int = 0,
    sample: int | None = None,
    limit: int | None = None,
    id_field: str | None = None,
) -> tuple[list[Item], Source]:
    """Load a suite's rows and select its items in one call."""
    rows, source = load_rows(data, base_dir=base_dir)
    items = select(rows, source, suite=suite, seed=seed, sample=sample, limit=limit, id_field=id_field)
    return items, source


def load_rows(data: Any, *, base_dir: Path) -> tuple[list[dict], Source]:
    """Read every row of a data spec (see the module docstring for the accepted forms)."""
    if isinstance(data, str) and data.startswith("hf:"):
        return _load_hf(data)
    if isinstance(data, (str, os.PathLike)):
        return _load_file(data, Path(base_dir))
    if isinstance(data, (list, tuple)):
        return _rows_from(data, "inline rows")
    if callable(data):
        return _load_callable(data)
    raise DataError(
        f"unsupported data spec {data!r} ({type(data).__name__}); expected a file path, "
        f"an '{_HF_FORM}' string, a callable returning rows, or a list of dicts"
    )


def select(
    rows: list[dict],
    source: Source,
    *,
    suite: str,
    seed: int,
    sample: int | None,
    limit: int | None,
    id_field: str | None = None,
) -> list[Item]:
    """Turn rows into Items: a seeded, file-ordered sample, then the first `limit` of it."""
    _check_count("sample", sample, source)
    _check_count("limit", limit, source)
    keys = _keys(rows, source, id_field) if id_field else [None] * len(rows)
    width = max(MIN_WIDTH, len(str(len(rows) - 1)))
    chosen = sample_indices(len(rows), seed=seed, suite=suite, sample=sample)[:limit]
    return [
        Item(suite, i, MappingProxyType(dict(rows[i])), width=width, key=keys[i]) for i in chosen
    ]


def with_samples(items: list[Item], samples: int) -> list[Item]:
    """Each item repeated as samples 0 .. samples-1 (test ids `-s0` ..), for a suite with samples=K."""
    return [replace(item, sample=k) for item in items for k in range(samples)]


def split_sample(item_id: str) -> tuple[str, int | None]:
    """`arith-0003-p0-s2` -> (`arith-0003-p0`, 2); an id without a sample suffix -> (the id, None)."""
    match = _SAMPLE.search(item_id)
    if match is None:
        return item_id, None
    return item_id[:match.start(1)], int(match[2])


def sample_indices(n: int, *, seed: int, suite: str, sample: int | None) -> list[int]:
    """Indices to keep, ascending. Ranked by sha256 so the choice is identical on every
    machine and Python version (no `random`, no hash randomisation)."""
    if sample is None or sample >= n:
        return list(range(n))
    ranked = sorted(range(n), key=lambda i: hashlib.sha256(f"{seed}:{suite}:{i}".encode()).hexdigest())
    return sorted(ranked[:sample])


# ---------------------------------------------------------------- selection helpers


def _check_count(name: str, value: int | None, source: Source) -> None:
    if value is not None and value <= 0:
        raise DataError(f"{source.description}: {name} must be a positive number of rows, got {value}")


def _keys(rows: list[dict], source: Source, id_field: str) -> list[str]:
    """Each row's own id as text; ids must exist and stay unique after sanitizing."""
    keys: list[str] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        value = row.get(id_field)
        if value is None or value == "":
            raise DataError(f"{source.description}: row {i} has no value for id_field {id_field!r}")
        key = str(value)
        clash = seen.setdefault(_sanitize(key), i)
        if clash != i:
            raise DataError(
                f"{source.description}: duplicate {id_field!r} {key!r} in row {i} "
                f"(same id as row {clash}: {rows[clash][id_field]!r})"
            )
        keys.append(key)
    return keys


def _sanitize(key: str) -> str:
    """Keep ids safe in pytest node ids, file names and SQL without quoting."""
    return _ID_UNSAFE.sub("_", key)


# ---------------------------------------------------------------- files


def _load_file(data: str | os.PathLike, base_dir: Path) -> tuple[list[dict], Source]:
    name = os.fspath(data)
    kind = _format(name)
    raw = _read_bytes(name, base_dir)
    text = _decode(_gunzip(raw, name) if name.lower().endswith(".gz") else raw, name)
    rows = {".jsonl": _parse_jsonl, ".json": _parse_json, ".csv": _parse_csv}[kind](text, name)
    return rows, Source(name, hashlib.sha256(raw).hexdigest(), len(rows))


def _format(name: str) -> str:
    lowered = name.lower().removesuffix(".gz")
    for suffix in SUFFIXES:
        if lowered.endswith(suffix):
            return suffix
    supported = ", ".join(s + gz for s in SUFFIXES for gz in ("", ".gz"))
    raise DataError(f"{name}: unknown data file type; supported suffixes: {supported}")


def _read_bytes(name: str, base_dir: Path) -> bytes:
    path = base_dir / Path(name).expanduser()
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(
            f"{name}: data file not found at {path.absolute()} "
            f"(relative paths are resolved against the suite's directory {base_dir})"
        ) from None
    except OSError as exc:
        raise DataError(f"{name}: cannot read {path}: {exc.strerror or exc}") from None


def _gunzip(raw: bytes, name: str) -> bytes:
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{name}: not a valid gzip file ({exc})") from None


def _decode(raw: bytes, name: str) -> str:
    """UTF-8, tolerating the BOM that spreadsheet exports add."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{name}:{line}: not valid UTF-8 ({exc.reason})") from None


def _parse_jsonl(text: str, name: str) -> list[dict]:
    # Split on "\n" only: str.splitlines() would also split on U+2028, legal inside JSON strings.
    rows = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{name}:{lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(row, dict):
            raise DataError(f"{name}:{lineno}: expected a JSON object, got {_json_type(row)}")
        rows.append(row)
    return _nonempty(rows, name)


def _parse_json(text: str, name: str) -> list[dict]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{name}:{exc.lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from None
    rows = doc if isinstance(doc, list) else _wrapped_list(doc, name)
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            line = _json_element_line(text, doc, i)
            raise DataError(f"{name}:{line}: row {i} is {_json_type(row)}, expected a JSON object")
    return _nonempty(rows, name)


def _wrapped_list(doc: Any, name: str) -> list:
    """Accept {"data": [...]}-style files: an object with exactly one list value."""
    lists = [v for v in doc.values() if isinstance(v, list)] if isinstance(doc, dict) else []
    if len(lists) != 1:
        raise DataError(
            f"{name}: expected a JSON list of objects, or an object with exactly one list value; "
            f"got {_json_type(doc)}"
            + (f" with {len(lists)} list values" if isinstance(doc, dict) else "")
        )
    return lists[0]


def _json_element_line(text: str, doc: Any, index: int) -> int:
    """Line of the index-th element of the row list; only computed on error, json has no positions."""
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, _row_list_start(text, doc, decoder) + 1)
    for _ in range(index):
        _, pos = decoder.raw_decode(text, pos)
        pos = _skip_ws(text, _skip_ws(text, pos) + 1)  # past the comma
    return text.count("\n", 0, pos) + 1


def _row_list_start(text: str, doc: Any, decoder: json.JSONDecoder) -> int:
    """Offset of the '[' that opens the row list: the document, or the wrapping object's list value."""
    pos = _skip_ws(text, 0)
    if isinstance(doc, list):
        return pos
    pos = _skip_ws(text, pos + 1)  # past "{"
    while True:
        key, pos = decoder.raw_decode(text, pos)
        pos = _skip_ws(text, _skip_ws(text, pos) + 1)  # past ":"
        if isinstance(doc[key], list):
            return pos
        _, pos = decoder.raw_decode(text, pos)
        pos = _skip_ws(text, _skip_ws(text, pos) + 1)  # past ","


def _skip_ws(text: str, pos: int) -> int:
    return _JSON_WS.match(text, pos).end()


def _json_type(value: Any) -> str:
    """JSON's name for a parsed value, so messages speak the file's language, not Python's."""
    for kind, label in ((bool, "a boolean"), (dict, "an object"), (list, "an array"),
                        (str, "a string"), ((int, float), "a number")):
        if isinstance(value, kind):
            return label
    return "null"


def _parse_csv(text: str, name: str) -> list[dict]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header, rows = None, []
    try:
        while True:
            start = reader.line_num + 1  # a quoted field can span lines; report where the row starts
            record = next(reader, None)
            if record is None:
                break
            if not record:
                continue  # blank line
            if header is None:
                header = _csv_header(record, name, start)
                continue
            if len(record) != len(header):
                raise DataError(
                    f"{name}:{start}: {len(record)} fields, but the header has {len(header)}"
                )
            rows.append(dict(zip(header, record)))
    except csv.Error as exc:
        raise DataError(f"{name}:{reader.line_num}: malformed CSV ({exc})") from None
    if header is None:
        return _nonempty(rows, name)
    return _nonempty(rows, name, "only a header, no rows")


def _csv_header(record: list[str], name: str, line: int) -> list[str]:
    """The header names the fields; blank or repeated names would silently lose data."""
    if any(not column.strip() for column in record):
        raise DataError(f"{name}:{line}: the CSV header has a blank column name: {record}")
    repeated = sorted({c for c in record if record.count(c) > 1})
    if repeated:
        raise DataError(f"{name}:{line}: the CSV header repeats {', '.join(map(repr, repeated))}")
    return record


def _nonempty(rows: list[dict], name: str, why: str = "the file has no rows") -> list[dict]:
    if not rows:
        raise DataError(f"{name}:1: {why}")
    return rows


# ---------------------------------------------------------------- callables and HF


class Rows(list):
    """Rows from a callable that knows where they came from: the run records its description and hash
    (a prompt library's version, say) as it records a data file's."""

    def __init__(self, rows, description: str, sha256: str | None):
        super().__init__(rows)
        self.description, self.sha256 = description, sha256


def _load_callable(func: Callable[[], Iterable[dict]]) -> tuple[list[dict], Source]:
    module = getattr(func, "__module__", None) or "?"
    result = func()
    if isinstance(result, Rows):
        rows, source = _rows_from(result, result.description)
        return rows, Source(result.description, result.sha256, len(rows))
    return _rows_from(result, f"callable {module}.{getattr(func, '__qualname__', repr(func))}")


def _rows_from(result: Any, description: str) -> tuple[list[dict], Source]:
    """Rows given as Python objects; a dict or string is iterable too, but never means rows."""
    if isinstance(result, (str, bytes, Mapping)) or not isinstance(result, Iterable):
        raise DataError(f"{description}: gave {type(result).__name__}, expected an iterable of dicts")
    rows = list(result)
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise DataError(f"{description}: row {i} is {type(row).__name__}, expected a dict")
    if not rows:
        raise DataError(f"{description}: no rows")
    return [dict(row) for row in rows], Source(description, None, len(rows))


class HFSpec(NamedTuple):
    """A parsed `hf:` data spec."""

    name: str
    config: str | None
    split: str


def parse_hf_spec(spec: str) -> HFSpec:
    """Split 'hf:NAME[:CONFIG]@SPLIT'; ':' and '@' never occur in Hub dataset names, so it is unambiguous."""
    match = _HF_SPEC.fullmatch(spec)
    if not match:
        raise DataError(f"{spec}: not a valid HF data spec; expected {_HF_FORM}")
    return HFSpec(match["name"], match["config"], match["split"])


def _load_hf(spec: str) -> tuple[list[dict], Source]:
    parsed = parse_hf_spec(spec)
    datasets = _import_datasets(spec)
    try:
        dataset = datasets.load_dataset(parsed.name, parsed.config, split=parsed.split)
    except Exception as exc:  # datasets raises many types; all mean "not usable offline"
        raise DataError(
            f"{spec}: cannot load from the local datasets cache ({type(exc).__name__}: {exc}); "
            f"download it once while online with "
            f"datasets.load_dataset({parsed.name!r}, {parsed.config!r}, split={parsed.split!r})"
        ) from exc
    return _rows_from(dataset, spec)


def _import_datasets(spec: str) -> Any:
    """Import `datasets` offline (cache only) unless the user set HF_DATASETS_OFFLINE themselves."""
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    try:
        import datasets
    except ImportError:
        raise DataError(
            f"{spec}: hf: data specs need the 'datasets' package; "
            f"install it with: pip install 'pytest-modeleval[datasets]'"
        ) from None
    return datasets
