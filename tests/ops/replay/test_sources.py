"""ops/replay/sources.py: folders, gzip or plain files, .json documents, stdin, S3; bad
lines with file:line; unreadable files as SourceError after their good part."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import boto3
import pytest

from ops.replay.sources import SourceError, discover, records
from tests.ops.replay.archive import write_archive


def all_records(specs: list[str], **kwargs: object) -> list[tuple[str, int, str | None]]:
    found = []
    for file in discover(specs, **kwargs):  # type: ignore[arg-type]
        for r in records(file):
            found.append((Path(r.file).name, r.line, (r.event or {}).get("messageId") or r.problem))
    return found


def test_an_archive_folder_is_read_in_path_order(tmp_path: Path) -> None:
    events = write_archive(tmp_path, 30, 3)
    files = discover([str(tmp_path)])
    assert [Path(f.name).parent.name for f in files] == ["2026-11-28"] * 3
    assert [f.name for f in files] == sorted(f.name for f in files)
    ids = [r.event["messageId"] for f in files for r in records(f) if r.event]
    assert ids == [e["messageId"] for e in events]


def test_plain_and_gzip_are_told_by_their_bytes_not_their_name(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(gzip.compress(b'{"messageId": "g1"}\n'))
    (tmp_path / "b.gz").write_text('{"messageId": "p1"}\n')
    assert [x[2] for x in all_records([str(tmp_path)])] == ["g1", "p1"]


def test_bad_and_blank_lines_keep_their_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"messageId": "m1"}\n\nnot json\n[1]\n{"messageId": "m5"}\n')
    found = [(r.line, r.event is not None, r.problem) for r in records(discover([str(path)])[0])]
    assert [(line, ok) for line, ok, _ in found] == [(1, True), (2, False), (3, False),
                                                    (4, False), (5, True)]  # fmt: skip
    assert found[1][2] is None  # blank: nothing to report
    assert str(found[2][2]).startswith("not JSON")
    assert found[3][2] == "not a JSON object but list"


@pytest.mark.parametrize(
    "document",
    [[{"messageId": "a"}, {"messageId": "b"}], {"batch": [{"messageId": "a"}, {"messageId": "b"}]}],
)
def test_a_json_document_list_or_batch(tmp_path: Path, document: object) -> None:
    (tmp_path / "x.json").write_text(json.dumps(document, indent=2))
    assert all_records([str(tmp_path / "x.json")]) == [("x.json", 1, "a"), ("x.json", 2, "b")]


def test_stdin(tmp_path: Path) -> None:
    stdin = io.BytesIO(b'{"messageId": "s1"}\n{"messageId": "s2"}\n')
    assert all_records(["-"], stdin=stdin) == [("<stdin>", 1, "s1"), ("<stdin>", 2, "s2")]


def test_a_truncated_gzip_raises_after_its_good_lines(tmp_path: Path) -> None:
    data = gzip.compress(b"".join(b'{"messageId": "m%d"}\n' % n for n in range(2000)))
    (tmp_path / "cut.gz").write_bytes(data[: len(data) // 2])
    good: list[int] = []
    with pytest.raises(SourceError, match=r"cut\.gz: cannot read"):
        for record in records(discover([str(tmp_path / "cut.gz")])[0]):
            good.append(record.line)
    assert good == list(range(1, len(good) + 1))


def test_sources_that_name_nothing(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        discover([str(tmp_path / "missing")])
    with pytest.raises(SourceError, match=r"no \.gz"):
        discover([str(tmp_path)])


def test_an_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text("{}\n")
    (file,) = discover([str(path)])
    path.unlink()
    with pytest.raises(SourceError, match="cannot open"):
        list(records(file))


def test_an_s3_prefix(mocked_aws: None) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="archive")
    for day, ids in (("2026-11-29", ["a", "b"]), ("2026-11-30", ["c"])):
        body = "".join(json.dumps({"messageId": i}) + "\n" for i in ids).encode()
        s3.put_object(
            Bucket="archive", Key=f"segment-logs/src/{day}/1.gz", Body=gzip.compress(body)
        )
    s3.put_object(Bucket="archive", Key="segment-logs/src/README.txt", Body=b"x")
    found = all_records(["s3://archive/segment-logs/src/"], s3=s3)
    assert [x[2] for x in found] == ["a", "b", "c"]
    with pytest.raises(SourceError, match=r"no \.gz"):
        discover(["s3://archive/nothing/"], s3=s3)
