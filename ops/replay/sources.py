"""Where replayed events come from, one record per line, each with its ``file:line``.

- a folder: every ``.gz``, ``.jsonl``, ``.ndjson`` and ``.json`` file below it, by path
  (Segment's S3 destination writes ``segment-logs/<source-id>/<day>/<time>.<id>.gz``: the
  path order is the time order);
- an ``s3://bucket/prefix``: the same, listed and streamed from S3 (AWS credentials from
  the environment);
- a file: JSON lines, gzip-compressed or not (told by its first bytes, not its name); a
  ``.json`` file may instead hold one JSON document: an event, a list of events or a
  Segment batch ``{"batch": [...]}`` (its records are then numbered 1, 2, ... in order);
- ``-``: JSON lines on stdin (read into memory first: a resend counts before sending).
"""

from __future__ import annotations

import gzip
import io
import json
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

SUFFIXES = (".gz", ".jsonl", ".ndjson", ".json")
GZIP_MAGIC = b"\x1f\x8b"
STDIN = "<stdin>"


class SourceError(Exception):
    """A source cannot be found or a file cannot be read (to the end)."""


@dataclass(frozen=True)
class File:
    """One file of a source: its name (as given, for messages), how to open it, and its key
    in the checkpoint (a local file's absolute path: a rerun from elsewhere still finds it)."""

    name: str
    open: Callable[[], IO[bytes]]
    key: str = ""

    @property
    def checkpoint_key(self) -> str:
        return self.key or self.name


@dataclass(frozen=True)
class Record:
    """One line (or one item of a .json document): an event, or why it is not one."""

    file: str
    line: int
    event: dict[str, Any] | None
    problem: str | None = None
    size: int = 0  # bytes of its JSON text: what batches are sized by
    key: str = ""  # its file's checkpoint key (File.checkpoint_key), once it is to be sent

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def discover(specs: list[str], s3: Any = None, stdin: IO[bytes] | None = None) -> list[File]:
    """The files the sources name, in order (SourceError when one names nothing)."""
    files: list[File] = []
    for spec in specs:
        if spec == "-":
            data = (stdin or sys.stdin.buffer).read()
            files.append(File(STDIN, lambda data=data: io.BytesIO(data)))  # type: ignore[misc]
        elif spec.startswith("s3://"):
            files += _s3_files(spec, s3)
        else:
            files += _local_files(Path(spec))
    return files


def _local_files(path: Path) -> list[File]:
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES))
        if not found:
            raise SourceError(f"{path}: no {', '.join(SUFFIXES)} files in this folder")
        return [_local(p) for p in found]
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    return [_local(path)]


def _local(path: Path) -> File:
    return File(str(path), lambda: path.open("rb"), str(path.resolve()))


def _s3_files(uri: str, s3: Any) -> list[File]:
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not bucket:
        raise SourceError(f"{uri}: no bucket")
    if s3 is None:
        import boto3

        s3 = boto3.client("s3")
    keys: list[str] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(SUFFIXES)]
    except Exception as exc:  # botocore's errors: no credentials, no bucket, access denied
        raise SourceError(f"{uri}: cannot list: {type(exc).__name__}: {exc}") from exc
    if not keys:
        raise SourceError(f"{uri}: no {', '.join(SUFFIXES)} objects under this prefix")

    def opener(key: str) -> Callable[[], IO[bytes]]:
        return lambda: s3.get_object(Bucket=bucket, Key=key)["Body"]

    return [File(f"s3://{bucket}/{key}", opener(key)) for key in sorted(keys)]


def records(file: File) -> Iterator[Record]:
    """The file's records in order; SourceError when it cannot be read (after the good part)."""
    try:
        raw = file.open()
    except Exception as exc:
        raise SourceError(f"{file.name}: cannot open: {type(exc).__name__}: {exc}") from exc
    try:
        with raw:
            head = raw.read(2)
            stream: IO[bytes] = io.BufferedReader(_Prefixed(head, raw), 1 << 16)
            if head == GZIP_MAGIC:
                stream = gzip.GzipFile(fileobj=stream)  # type: ignore[assignment]
            if file.name.endswith(".json"):
                yield from _document(file.name, stream.read())
                return
            for number, line in enumerate(stream, start=1):
                yield parse(file.name, number, line) if line.strip() else blank(file.name, number)
    except SourceError:
        raise
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise SourceError(f"{file.name}: cannot read: {type(exc).__name__}: {exc}") from exc
    except Exception as exc:  # botocore's streaming errors
        raise SourceError(f"{file.name}: cannot read: {type(exc).__name__}: {exc}") from exc


def blank(name: str, number: int) -> Record:
    """An empty line: nothing to send, but done all the same (the checkpoint counts lines)."""
    return Record(name, number, None, None)


def parse(name: str, number: int, line: bytes) -> Record:
    """One JSON line: an event object, or the problem with it."""
    try:
        value = json.loads(line)
    except ValueError as exc:
        return Record(name, number, None, f"not JSON: {exc}", len(line))
    if not isinstance(value, dict):
        return Record(name, number, None, f"not a JSON object but {type(value).__name__}")
    return Record(name, number, value, None, len(line))


def _document(name: str, data: bytes) -> Iterator[Record]:
    """A .json file: one document (an event, a list, a batch), else JSON lines."""
    try:
        value = json.loads(data)
    except ValueError:
        for number, line in enumerate(data.splitlines(), start=1):
            yield parse(name, number, line) if line.strip() else blank(name, number)
        return
    if isinstance(value, dict) and isinstance(value.get("batch"), list):
        value = value["batch"]
    items = value if isinstance(value, list) else [value]
    for number, item in enumerate(items, start=1):
        if isinstance(item, dict):
            yield Record(name, number, item, None, len(json.dumps(item)))
        else:
            yield Record(name, number, None, f"not a JSON object but {type(item).__name__}")


class _Prefixed(io.RawIOBase):
    """A stream whose first bytes were already read (to tell gzip from plain text)."""

    def __init__(self, head: bytes, rest: Any) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        chunk = self._rest.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)
