"""The verify command line against a fake Richpanel: arrival, and each way it is not proven."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
import responses

from ops.verify import cli as verify_cli
from ops.verify.probes import MARKER_TRAIT
from ops.verify.redact import Redacted
from ops.verify.target import DEFAULT_UID, default_email

from .helpers import API_KEY, REST_KEY, SECRETS, FakeRichpanel, real_env, run


def assert_no_secret(output: str) -> None:
    for secret in SECRETS:
        assert secret not in output


def test_everything_arrives_exit_0_and_the_table(richpanel: FakeRichpanel) -> None:
    code, output = run()

    assert code == verify_cli.ARRIVED, output
    assert "field" in output and "sent" in output and "seen" in output and "lag" in output
    assert sum("  arrived  " in line for line in output.splitlines()) == 4, output
    for label in (f"trait {MARKER_TRAIT}", "track eventId", "page eventId", "order id"):
        assert label in output
    assert "all arrived" in output
    assert f"email {default_email(API_KEY)}" in output
    assert_no_secret(output)


def test_the_calls_go_through_the_mapping_and_the_client(richpanel: FakeRichpanel) -> None:
    code, output = run()

    assert code == 0, output
    calls = [entry["call"] for entry in richpanel.calls]
    assert [call["event"] for call in calls] == [
        "identify",
        "Richpanel Destination Verify",
        "page_view",
        "Order Completed",
    ]
    assert all(entry["body"].get("s") for entry in richpanel.calls)  # signed with the secret
    assert all(call["userProperties"]["uid"] == DEFAULT_UID for call in calls)
    assert all(call["appClientId"] == API_KEY for call in calls)
    marker = calls[0]["userProperties"][MARKER_TRAIT]
    assert calls[3]["properties"]["orderId"] == f"verify-{marker}"
    assert calls[3]["properties"]["order_id"] == f"verify-{marker}"
    assert f"marker:   {marker}" in output


def test_polls_through_404s_with_a_progress_line(richpanel: FakeRichpanel) -> None:
    richpanel.hidden_polls = 3

    code, output = run("--timeout", "5")

    assert code == 0, output
    assert richpanel.reads >= 4
    assert "waiting for arrival: 0/4 seen, customer not found yet" in output


def test_wrong_api_key_accepted_but_never_arrived(richpanel: FakeRichpanel) -> None:
    richpanel.api_key = "the-account-s-real-key"  # so ours is dropped after a 200

    code, output = run("--timeout", "0.3")

    assert code == verify_cli.NEVER_ARRIVED, output
    assert "accepted but never arrived: check the API key" in output
    assert output.count("missing") == 4
    assert_no_secret(output)


def test_a_marker_from_an_earlier_run_is_not_arrival(richpanel: FakeRichpanel) -> None:
    code, _ = run()
    assert code == 0
    richpanel.api_key = "now-dropping-everything"

    code, output = run("--timeout", "0.3")

    assert code == verify_cli.NEVER_ARRIVED, output
    assert "stale" in output
    assert "accepted but never arrived: identify, track, page, order (the customer exists" in output


def test_no_rest_key_prints_what_to_look_up_and_exits_4(richpanel: FakeRichpanel) -> None:
    code, output = run(env=real_env(RICHPANEL_REST_KEY=None))

    assert code == verify_cli.NO_REST_KEY == 4, output
    assert "no REST key: arrival cannot be proven" in output
    assert "In about 5 minutes" in output
    assert f"search for the email {default_email(API_KEY)}" in output
    marker = richpanel.calls[0]["call"]["userProperties"][MARKER_TRAIT]
    assert f"the trait {MARKER_TRAIT} = {marker}" in output
    assert f"the order verify-{marker}" in output
    assert len(richpanel.calls) == 4 and richpanel.reads == 0
    assert_no_secret(output)


def test_bad_rest_key_stops_with_its_message(richpanel: FakeRichpanel) -> None:
    code, output = run(env=real_env(RICHPANEL_REST_KEY="not-the-rest-key-000"))

    assert code == verify_cli.READ_BACK_FAILED, output
    assert "the REST key is not valid" in output
    assert richpanel.reads == 1
    assert "not-the-rest-key-000" not in output
    assert_no_secret(output)


def test_a_refusing_ingest_exits_3(richpanel: FakeRichpanel) -> None:
    richpanel.ingest_status = 400

    code, output = run()

    assert code == verify_cli.REFUSED, output
    assert "Richpanel refused every call" in output
    assert "Richpanel answered 400" in output
    assert richpanel.reads == 0


def test_uid_and_email_can_be_set(richpanel: FakeRichpanel) -> None:
    code, output = run("--uid", "ops-check", "--email", "ops-check@example.invalid")

    assert code == 0, output
    assert richpanel.customer is not None
    assert richpanel.customer["uid"] == "ops-check"
    assert richpanel.customer["email"] == "ops-check@example.invalid"


def test_defaults_to_the_running_local_stack(tmp_path: Path) -> None:
    fake = FakeRichpanel(
        api_key="local-dev-key",
        rest_key="local-dev-rest-key",
        ingest="http://sandbox.test/v2",
        rest="http://sandbox.test",
    )
    ready = tmp_path / "ready.json"
    ready.write_text(json.dumps({"sandbox": "http://sandbox.test", "pid": os.getpid()}))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        code, output = run("--ready-file", str(ready), env={})

    assert code == 0, output
    assert "target:   local sandbox" in output
    assert "local-dev-key" not in output and "local-dev-rest-key" not in output


def test_without_the_local_stack_it_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run("--ready-file", str(tmp_path / "missing.json"), env={})

    assert code == verify_cli.USAGE
    assert "make run" in capsys.readouterr().err


def test_real_target_needs_the_api_key(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run(env=real_env(RICHPANEL_API_KEY=None))

    assert code == verify_cli.USAGE
    assert "RICHPANEL_API_KEY is not set" in capsys.readouterr().err


def test_rest_key_is_masked_even_if_an_answer_echoes_it() -> None:
    out = io.StringIO()
    Redacted(out, (REST_KEY, API_KEY)).write(f"body: {REST_KEY} and {API_KEY}\n")

    assert out.getvalue() == "body: *** and ***\n"
