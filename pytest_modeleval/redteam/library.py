"""The red-team prompt library: harmful requests, benign look-alikes and jailbreak templates.

A library is a directory of .jsonl, .json or .csv files (other files, such as a README, are
ignored). Each row is a harmful request, a benign request, or a jailbreak template; its role is
the row's `kind` field, else the file name's start (harmful*, benign*, jailbreak*). New
jailbreaks appear all the time, so refreshing the library means dropping a file in: the
library's `version` (a sha256 over every file's name and bytes) then changes, and results
recorded with it say which prompts a model was tested on.

Rows:

* requests: `id`, `category`, `prompt`;
* jailbreaks: `id`, `category`, and either `template` (text with ``{request}`` exactly once)
  or `messages` (a chat, a list of {role, content}, whose last turn is the user's and holds
  ``{request}``); optional `encode: "base64"` encodes the request before it is put in.

Ids are combined as ``REQUEST+TEMPLATE``, so they may only use letters, digits, ``_ . -``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..items import SUFFIXES, DataError, load_rows
from .public import harmbench_rows, xstest_rows  # noqa: F401  (the public sets, same row shape)
from .rows import KINDS, PromptKind, row_lines, suite_row

PLACEHOLDER = "{request}"
ROLES = ("system", "user", "assistant")
ENCODINGS = {"base64": lambda text: base64.b64encode(text.encode("utf-8")).decode("ascii")}
_ID = re.compile(r"[A-Za-z0-9_.-]+")
_FILE_KINDS = {"harmful": "harmful", "benign": "benign", "jailbreak": "jailbreak"}


class LibraryError(DataError):
    """A library file the library cannot use; the message starts with FILE:LINE of the row at fault."""


@dataclass(frozen=True)
class Request:
    id: str
    kind: PromptKind
    category: str
    prompt: str
    where: str  # FILE:LINE


@dataclass(frozen=True)
class Jailbreak:
    id: str
    category: str
    template: str | None
    messages: tuple[Mapping[str, str], ...] | None = field(hash=False)
    encode: str | None
    where: str  # FILE:LINE

    def wrap(self, request: str) -> str | list[dict]:
        """The request inside this template: text, or a fresh list of chat messages."""
        text = ENCODINGS[self.encode](request) if self.encode else request
        if self.template is not None:
            return self.template.replace(PLACEHOLDER, text)
        return [{"role": m["role"], "content": m["content"].replace(PLACEHOLDER, text)} for m in self.messages]


@dataclass(frozen=True)
class PromptLibrary:
    directory: Path
    version: str  # sha256 over (file name, bytes) of every file, in name order
    files: Mapping[str, str] = field(hash=False)  # file name -> sha256 of its bytes
    requests: tuple[Request, ...]
    jailbreaks: tuple[Jailbreak, ...]

    @classmethod
    def load(cls, directory: str | Path) -> PromptLibrary:
        directory = Path(directory)
        if not directory.is_dir():
            raise LibraryError(f"{directory}: no such prompt library directory")
        paths = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
        if not paths:
            raise LibraryError(f"{directory}: no {', '.join(SUFFIXES)} files in the prompt library")
        digest, files, requests, jailbreaks = hashlib.sha256(), {}, [], []
        for path in paths:
            rows, source = load_rows(path.absolute(), base_dir=directory)
            data = path.read_bytes()
            digest.update(f"{path.name}\0{len(data)}\0".encode())
            digest.update(data)
            files[path.name] = source.sha256
            for line, row in zip(row_lines(path), rows):
                entry = _entry(path.absolute(), line, row)
                (jailbreaks if isinstance(entry, Jailbreak) else requests).append(entry)
        _check_unique(requests, "request")
        _check_unique(jailbreaks, "jailbreak")
        return cls(directory, digest.hexdigest(), MappingProxyType(files), tuple(requests), tuple(jailbreaks))

    def items(self, kind: str = "harmful", jailbreaks: bool = True) -> list[dict[str, Any]]:
        """Suite rows: every request of `kind` as is, then (harmful only) every request in every template.

        Template-major, so a refresh that adds a template appends rows; select rows by their
        `id` (a suite's id_field), which never changes, rather than by position.
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        chosen = [r for r in self.requests if r.kind == kind]
        rows = [suite_row(r.id, kind, r.category, r.prompt, r.prompt) for r in chosen]
        if jailbreaks and kind == "harmful":
            rows += [suite_row(f"{r.id}+{jb.id}", kind, r.category, jb.wrap(r.prompt), r.prompt, jb.id)
                     for jb in self.jailbreaks for r in chosen]
        return rows


def default_library() -> PromptLibrary:
    """The library packaged with pytest-modeleval (pytest_modeleval/redteam/prompts)."""
    return PromptLibrary.load(Path(__file__).parent / "prompts")


# ---------------------------------------------------------------- rows


def _entry(path: Path, line: int, row: dict) -> Request | Jailbreak:
    """One row, checked; every complaint starts with its FILE:LINE."""
    at = f"{path}:{line}"
    kind = _text(row, "kind", at, required=False) or _kind_from_name(path, at)
    if kind not in (*KINDS, "jailbreak"):
        raise LibraryError(f"{at}: kind {kind!r} is not harmful, benign or jailbreak")
    id_ = _text(row, "id", at)
    if not _ID.fullmatch(id_):
        raise LibraryError(f"{at}: id {id_!r} may only use letters, digits, '_', '.' and '-' "
                           f"(ids are joined with '+' for jailbreak rows)")
    category = _text(row, "category", at)
    if kind != "jailbreak":
        return Request(id_, kind, category, _text(row, "prompt", at), at)
    return _jailbreak(row, id_, category, at)


def _jailbreak(row: dict, id_: str, category: str, at: str) -> Jailbreak:
    template = _text(row, "template", at, required=False)
    messages = row.get("messages") or None
    if (template is None) == (messages is None):
        raise LibraryError(f"{at}: a jailbreak needs exactly one of 'template' (text) or 'messages' (a chat)")
    encode = _text(row, "encode", at, required=False)
    if encode is not None and encode not in ENCODINGS:
        raise LibraryError(f"{at}: encode {encode!r} is not one of {', '.join(ENCODINGS)}")
    if template is not None:
        _check_placeholder(template.count(PLACEHOLDER), "template", at)
        return Jailbreak(id_, category, template, None, encode, at)
    return Jailbreak(id_, category, None, _messages(messages, at), encode, at)


def _messages(messages: Any, at: str) -> tuple[Mapping[str, str], ...]:
    if not isinstance(messages, list):
        raise LibraryError(f"{at}: 'messages' must be a list of {{role, content}} objects "
                           f"(a JSON list, so write the template in a .jsonl or .json file)")
    for i, m in enumerate(messages):
        if not (isinstance(m, dict) and m.get("role") in ROLES and isinstance(m.get("content"), str)):
            raise LibraryError(f"{at}: messages[{i}] must be {{\"role\": {' | '.join(ROLES)}, "
                               f"\"content\": text}}, got {m!r}")
    if messages[-1]["role"] != "user":
        raise LibraryError(f"{at}: the last message must be the user's (it carries {PLACEHOLDER})")
    _check_placeholder(messages[-1]["content"].count(PLACEHOLDER), "the last message", at)
    if any(PLACEHOLDER in m["content"] for m in messages[:-1]):
        raise LibraryError(f"{at}: only the last message may hold {PLACEHOLDER}")
    return tuple(MappingProxyType({"role": m["role"], "content": m["content"]}) for m in messages)


def _check_placeholder(count: int, what: str, at: str) -> None:
    if count != 1:
        raise LibraryError(f"{at}: {what} must contain {PLACEHOLDER} exactly once, found it {count} times")


def _text(row: dict, name: str, at: str, *, required: bool = True) -> str | None:
    """A non-empty text field; CSV gives '' for a blank cell, which counts as absent."""
    value = row.get(name)
    if value is None or value == "":
        if required:
            raise LibraryError(f"{at}: missing {name!r} (fields: {', '.join(row) or 'none'})")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise LibraryError(f"{at}: {name!r} must be text, got {value!r}")
    return str(value)


def _kind_from_name(path: Path, at: str) -> str:
    for prefix, kind in _FILE_KINDS.items():
        if path.name.lower().startswith(prefix):
            return kind
    raise LibraryError(f"{at}: no 'kind' field, and the file name does not start with "
                       f"{', '.join(_FILE_KINDS)} to say what its rows are")


def _check_unique(entries: list, what: str) -> None:
    seen: dict[str, str] = {}
    for entry in entries:
        first = seen.setdefault(entry.id, entry.where)
        if first != entry.where:
            raise LibraryError(f"{entry.where}: duplicate {what} id {entry.id!r} (first at {first})")


def library_rows(kind: str = "harmful", directory: str | Path | None = None, *, jailbreaks: bool = True):
    """A suite's `data=`: the library's rows of one kind, recorded with the library's version.

    Loaded at collection (a callable), so a library file dropped in takes effect on the next run
    and the suites table says which version each run saw (`data_sha256`).
    """
    def rows():
        from ..items import Rows

        library = default_library() if directory is None else PromptLibrary.load(directory)
        name = "packaged" if directory is None else str(directory)
        return Rows(library.items(kind, jailbreaks=jailbreaks),
                    f"prompt library {name} ({kind}, version {library.version[:12]})", library.version)

    rows.__qualname__ = f"library_rows({kind!r})"
    return rows
