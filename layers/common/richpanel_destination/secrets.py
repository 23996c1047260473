"""Credentials from AWS Secrets Manager, through Powertools Parameters (cached per container)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


class SecretError(RuntimeError):
    """A secret is missing, unreadable or not shaped as documented."""


@dataclass(frozen=True)
class RichpanelCredentials:
    """Richpanel's API Key (the appClientId) and optional API Secret."""

    api_key: str
    api_secret: str = ""


@dataclass(frozen=True)
class InboundCredentials:
    """Every active write key and webhook shared secret (several at once while rotating).

    ``write_keys`` are server keys (full rights); ``browser_write_keys`` are public keys a web
    page carries, whose calls may not set most profile fields (inbound/scopes.py).
    """

    write_keys: tuple[str, ...] = ()
    webhook_secrets: tuple[str, ...] = ()
    browser_write_keys: tuple[str, ...] = ()


def _read(arn: str, max_age: int) -> dict[str, Any]:
    if not arn:
        raise SecretError("no secret ARN configured")
    from aws_lambda_powertools.utilities import parameters  # deferred: needs boto3

    try:
        value = parameters.get_secret(
            arn, max_age=max_age, transform="json", force_fetch=max_age <= 0
        )
    except Exception as exc:  # Powertools wraps boto3 and JSON errors in several types
        raise SecretError(
            f"cannot read secret {arn}: {type(exc).__name__}{region_mismatch(arn)}"
        ) from exc
    if not isinstance(value, dict):
        raise SecretError(f"secret {arn} is not a JSON object")
    return value


def region_mismatch(arn: str, region: str | None = None) -> str:
    """A note when the secret lives in another region than this function (docs/deploy.md)."""
    parts = arn.split(":")
    here = region if region is not None else os.environ.get("AWS_REGION", "")
    if len(parts) > 3 and here and parts[3] != here:
        return f" (the secret is in {parts[3]}, this function runs in {here}: create it there)"
    return ""


def _strings(value: Any, field: str, arn: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SecretError(f"secret {arn}: {field} must be a list of non-empty strings")
    return tuple(value)


def richpanel_credentials(arn: str, max_age: int) -> RichpanelCredentials:
    """{"apiKey": "...", "apiSecret": "..."} from the Richpanel secret."""
    value = _read(arn, max_age)
    api_key = value.get("apiKey")
    if not isinstance(api_key, str) or not api_key:
        raise SecretError(f"secret {arn}: apiKey is required")
    api_secret = value.get("apiSecret") or ""
    return RichpanelCredentials(api_key, str(api_secret))


def inbound_credentials(arn: str, max_age: int) -> InboundCredentials:
    """{"writeKeys": [...], "webhookSecrets": [...], "browserWriteKeys": [...]} from the
    inbound secret (browserWriteKeys optional: keys that are public, docs/security.md)."""
    value = _read(arn, max_age)
    write_keys = _strings(value.get("writeKeys"), "writeKeys", arn)
    browser = _strings(value.get("browserWriteKeys"), "browserWriteKeys", arn)
    if set(write_keys) & set(browser):
        raise SecretError(
            f"secret {arn}: a key is in both writeKeys and browserWriteKeys; "
            "a key has one scope: keep a browser key in browserWriteKeys only"
        )
    return InboundCredentials(
        write_keys, _strings(value.get("webhookSecrets"), "webhookSecrets", arn), browser
    )


@dataclass(frozen=True)
class RestCredentials:
    """Richpanel's REST API key and URL (the canary's read-back)."""

    rest_key: str
    rest_url: str = "https://api.richpanel.com"


def rest_credentials(arn: str, max_age: int) -> RestCredentials:
    """{"restKey": "...", "restUrl": "https://api.richpanel.com"} from the REST secret."""
    value = _read(arn, max_age)
    rest_key = value.get("restKey")
    if not isinstance(rest_key, str) or not rest_key:
        raise SecretError(f"secret {arn}: restKey is required")
    rest_url = value.get("restUrl") or RestCredentials.rest_url
    if not isinstance(rest_url, str) or not rest_url.startswith(("https://", "http://")):
        raise SecretError(f"secret {arn}: restUrl must be an http(s) URL")
    return RestCredentials(rest_key, rest_url.rstrip("/"))
