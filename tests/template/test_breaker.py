"""The circuit breaker's settings reach both functions, and its item's table is theirs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def test_breaker_settings_come_from_the_parameters(cfn_for: Callable[..., Any]) -> None:
    cfn = cfn_for(BreakerFailures="7", BreakerCooldownSeconds="45")
    for function_id in ("IngestFunction", "RetryFunction"):
        env = cfn.properties(function_id)["Environment"]["Variables"]
        assert (env["BREAKER_FAILURES"], env["BREAKER_COOLDOWN_SECONDS"]) == ("7", "45")
        # no BREAKER_TABLE: the shared item lives in the idempotency table
        assert "BREAKER_TABLE" not in env and env["IDEMPOTENCY_TABLE"] == "<IdempotencyTable>"


def test_the_breaker_is_on_by_default_and_can_be_switched_off(cfn: Any) -> None:
    from richpanel_destination.settings import Settings

    env = cfn.properties("IngestFunction")["Environment"]["Variables"]
    settings = Settings.from_env({k: str(v) for k, v in env.items()})
    assert (settings.breaker_failures, settings.breaker_cooldown) == (5, 30.0)
    assert settings.breaker_table == "<IdempotencyTable>"
    assert Settings.from_env({"BREAKER_FAILURES": "0"}).breaker_failures == 0
