"""Secrets from moto's in-process Secrets Manager (a unit test: mocked AWS)."""

import json
from collections.abc import Iterator

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from richpanel_destination.secrets import (
    InboundCredentials,
    RichpanelCredentials,
    SecretError,
    inbound_credentials,
    richpanel_credentials,
)


@pytest.fixture
def sm(mocked_aws: None) -> Iterator[object]:
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    yield boto3.client("secretsmanager")
    parameters.clear_caches()  # type: ignore[no-untyped-call]


def put(client: object, name: str, value: object) -> str:
    return str(client.create_secret(Name=name, SecretString=json.dumps(value))["ARN"])  # type: ignore[attr-defined]


def test_richpanel_credentials(sm: object) -> None:
    arn = put(sm, "rp", {"apiKey": "k", "apiSecret": "s"})
    assert richpanel_credentials(arn, 300) == RichpanelCredentials("k", "s")


def test_inbound_credentials_accept_lists_and_single_strings(sm: object) -> None:
    arn = put(sm, "in", {"writeKeys": ["a", "b"], "webhookSecrets": "s"})
    assert inbound_credentials(arn, 300) == InboundCredentials(("a", "b"), ("s",))


def test_values_are_cached_for_max_age(sm: object) -> None:
    arn = put(sm, "rp2", {"apiKey": "first"})
    assert richpanel_credentials(arn, 300).api_key == "first"
    sm.put_secret_value(SecretId=arn, SecretString=json.dumps({"apiKey": "second"}))  # type: ignore[attr-defined]
    assert richpanel_credentials(arn, 300).api_key == "first"
    assert richpanel_credentials(arn, 0).api_key == "second"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"apiSecret": "s"}, "apiKey is required"),
        (["k"], "is not a JSON object"),
    ],
)
def test_malformed_richpanel_secret(sm: object, value: object, message: str) -> None:
    arn = put(sm, "bad", value)
    with pytest.raises(SecretError, match=message):
        richpanel_credentials(arn, 0)


def test_missing_secret_names_the_arn_not_the_value(sm: object) -> None:
    with pytest.raises(SecretError, match="cannot read secret arn:missing: "):
        richpanel_credentials("arn:missing", 0)
    with pytest.raises(SecretError, match="no secret ARN configured"):
        inbound_credentials("", 0)


def test_inbound_lists_must_hold_strings(sm: object) -> None:
    arn = put(sm, "in2", {"writeKeys": [1]})
    with pytest.raises(SecretError, match="writeKeys must be a list of non-empty strings"):
        inbound_credentials(arn, 0)


def test_a_secret_in_another_region_is_named_in_the_error() -> None:
    from richpanel_destination.secrets import region_mismatch

    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/richpanel-AbCdEf"
    assert region_mismatch(arn, "us-east-1") == (
        " (the secret is in eu-west-1, this function runs in us-east-1: create it there)"
    )
    assert region_mismatch(arn, "eu-west-1") == ""
    assert region_mismatch("not-an-arn", "us-east-1") == ""


def test_browser_write_keys_are_optional_and_kept_apart(sm: object) -> None:
    old = put(sm, "in-old", {"writeKeys": ["a"], "webhookSecrets": ["s"]})
    assert inbound_credentials(old, 0).browser_write_keys == ()  # an old secret: server keys
    arn = put(sm, "in3", {"writeKeys": ["a"], "browserWriteKeys": ["pub-1", "pub-2"]})
    assert inbound_credentials(arn, 0) == InboundCredentials(("a",), (), ("pub-1", "pub-2"))
    only = put(sm, "in4", {"browserWriteKeys": "pub-1"})
    assert inbound_credentials(only, 0) == InboundCredentials((), (), ("pub-1",))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"browserWriteKeys": [""]}, "browserWriteKeys must be a list of non-empty strings"),
        ({"browserWriteKeys": {"key": "k"}}, "browserWriteKeys must be a list of non-empty"),
        (
            {"writeKeys": ["k", "x"], "browserWriteKeys": ["k"]},
            "a key is in both writeKeys and browserWriteKeys",
        ),
    ],
)
def test_malformed_browser_write_keys(sm: object, value: object, message: str) -> None:
    arn = put(sm, "in5", value)
    with pytest.raises(SecretError, match=message) as caught:
        inbound_credentials(arn, 0)
    assert '"k"' not in str(caught.value) and "'k'" not in str(caught.value)  # never the key
