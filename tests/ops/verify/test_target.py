"""Which target verify resolves, and the synthetic customer's identity."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from local.targets import read_sandbox
from ops.verify.target import DEFAULT_REST_URL, TargetError, default_email, resolve_target


def ready(tmp_path: Path, **info: object) -> Path:
    path = tmp_path / "ready.json"
    path.write_text(json.dumps({"pid": os.getpid(), **info}), encoding="utf-8")
    return path


def test_the_email_is_stable_per_account_and_never_real() -> None:
    assert default_email("key-a") == default_email("key-a")
    assert default_email("key-a") != default_email("key-b")
    assert default_email("key-a").endswith(".invalid")
    assert "key-a" not in default_email("key-a")


def test_the_sandbox_from_the_ready_file_with_its_optional_keys(tmp_path: Path) -> None:
    plain = read_sandbox(ready(tmp_path, sandbox="http://127.0.0.1:4010/"))
    assert (plain.url, plain.ingest_url) == ("http://127.0.0.1:4010", "http://127.0.0.1:4010/v2")
    assert (plain.api_key, plain.rest_key, plain.signing) == (
        "local-dev-key",
        "local-dev-rest-key",
        "md5",
    )
    told = read_sandbox(
        ready(
            tmp_path,
            sandbox="http://s",
            rest_key="k2",
            signing="sha256",
            richpanel_base_url="http://s/v3",
        )
    )
    assert (told.ingest_url, told.rest_key, told.signing) == ("http://s/v3", "k2", "sha256")


def test_richpanel_when_its_key_is_set(tmp_path: Path) -> None:
    target = resolve_target(
        {"RICHPANEL_API_KEY": "k", "RICHPANEL_SIGNING": "sha256"},
        ready_file=tmp_path / "none.json",
    )
    assert target.name == "Richpanel"
    assert target.settings.base_url == "https://api.richpanel.com/v2"
    assert target.settings.signing == "sha256"
    assert (target.rest_url, target.rest_path, target.rest_key) == (
        DEFAULT_REST_URL,
        "/v1/customers",
        "",
    )


def test_local_wins_with_the_flag(tmp_path: Path) -> None:
    path = ready(tmp_path, sandbox="http://sb")
    target = resolve_target(
        {"RICHPANEL_API_KEY": "real"}, local=True, ready_file=path, rest_path="v9/c/"
    )
    assert (target.name, target.credentials.api_key, target.rest_path) == (
        "local sandbox",
        "local-dev-key",
        "/v9/c",
    )


def test_a_bad_setting_is_a_target_error(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="RICHPANEL_SIGNING"):
        resolve_target({"RICHPANEL_SIGNING": "rot13"}, ready_file=tmp_path / "none.json")
