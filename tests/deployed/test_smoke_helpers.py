"""The deployed suite's pure helpers, without AWS (these always run)."""

from __future__ import annotations

import pytest

from .test_smoke import SMOKE_UID, api_url, first_write_key, fresh_message_id, parameter


def test_api_url_is_the_output_without_a_trailing_slash() -> None:
    outputs = [
        {"OutputKey": "RetryQueueUrl", "OutputValue": "https://sqs.example/q"},
        {
            "OutputKey": "ApiUrl",
            "OutputValue": "https://abc.execute-api.eu-west-1.amazonaws.com/live/",
        },
    ]
    assert api_url(outputs) == "https://abc.execute-api.eu-west-1.amazonaws.com/live"
    with pytest.raises(AssertionError, match="no ApiUrl output"):
        api_url([])


def test_write_key_is_the_first_of_the_inbound_secret() -> None:
    assert first_write_key('{"writeKeys": ["k1", "k2"], "webhookSecrets": []}') == "k1"
    with pytest.raises(AssertionError, match="no writeKeys"):
        first_write_key('{"writeKeys": []}')


def test_parameter_prefers_the_resolved_value() -> None:
    parameters = [{"ParameterKey": "InboundSecretArn", "ParameterValue": "arn:aws:x"}]
    assert parameter(parameters, "InboundSecretArn") == "arn:aws:x"
    resolved = [{"ParameterKey": "P", "ParameterValue": "/ssm/name", "ResolvedValue": "arn:r"}]
    assert parameter(resolved, "P") == "arn:r"


def test_the_smoke_customer_is_the_one_fixed_synthetic_uid() -> None:
    assert SMOKE_UID == "richpanel-destination-smoke-test"
    first, second = fresh_message_id("track"), fresh_message_id("track")
    assert first != second and first.startswith("smoke-track-")
