"""Where a verify run sends and reads back: the local sandbox, or the real Richpanel."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from local.targets import LocalStackError, read_sandbox
from richpanel_destination.richpanel.readback import REST_PATH
from richpanel_destination.secrets import RichpanelCredentials
from richpanel_destination.settings import Settings, SettingsError

DEFAULT_REST_URL = "https://api.richpanel.com"
DEFAULT_REST_PATH = REST_PATH  # unconfirmed for the real Richpanel: a flag
DEFAULT_UID = "richpanel-destination-verify"
# Any of these in the environment points verify at the real Richpanel rather than the sandbox.
REAL_VARIABLES = ("RICHPANEL_BASE_URL", "RICHPANEL_API_KEY")


class TargetError(Exception):
    """The target cannot be resolved (a usage error)."""


@dataclass(frozen=True)
class Target:
    """Everything a run needs; the secrets are never printed (``describe`` leaves them out)."""

    name: str  # "local sandbox" or "Richpanel"
    settings: Settings
    credentials: RichpanelCredentials
    rest_url: str
    rest_path: str
    rest_key: str  # "" when there is none: arrival cannot be proven
    uid: str
    email: str

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values that must never appear in the output."""
        values = (self.credentials.api_key, self.credentials.api_secret, self.rest_key)
        return tuple(value for value in values if value)

    def describe(self) -> list[str]:
        """Where the run goes, without a secret."""
        rest = f"{self.rest_url}{self.rest_path}/email/..." if self.rest_key else "no REST key"
        return [
            f"target:   {self.name}",
            f"ingest:   {self.settings.base_url} (signing {self.settings.signing})",
            f"read-back: {rest}",
            f"customer: uid {self.uid}, email {self.email}",
        ]


def default_email(api_key: str) -> str:
    """The synthetic customer's email: the same for every run on one account, never real."""
    digest = hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:12]
    return f"{DEFAULT_UID}@account-{digest}.invalid"


def is_real(env: Mapping[str, str], local: bool) -> bool:
    """Whether the run goes to the real Richpanel (``--local`` forces the sandbox)."""
    return not local and any(env.get(name) for name in REAL_VARIABLES)


def resolve_target(
    env: Mapping[str, str],
    *,
    local: bool = False,
    ready_file: Path,
    base_url: str | None = None,
    rest_url: str | None = None,
    rest_path: str = DEFAULT_REST_PATH,
    uid: str | None = None,
    email: str | None = None,
) -> Target:
    """Flags first, then the environment, then the running local stack's ready file."""
    try:
        settings = Settings.from_env(env)
    except SettingsError as exc:
        raise TargetError(str(exc)) from exc
    if base_url is None and rest_url is None and not is_real(env, local):
        return _local(env, ready_file, rest_path, uid, email)
    api_key = env.get("RICHPANEL_API_KEY", "")
    if not api_key:
        raise TargetError("RICHPANEL_API_KEY is not set: the Richpanel API key is needed")
    settings = replace(settings, base_url=(base_url or settings.base_url).rstrip("/"))
    return Target(
        name="Richpanel",
        settings=settings,
        credentials=RichpanelCredentials(api_key, env.get("RICHPANEL_API_SECRET", "")),
        rest_url=(rest_url or env.get("RICHPANEL_REST_URL") or DEFAULT_REST_URL).rstrip("/"),
        rest_path=_path(rest_path),
        rest_key=env.get("RICHPANEL_REST_KEY", ""),
        uid=uid or DEFAULT_UID,
        email=email or default_email(api_key),
    )


def _local(
    env: Mapping[str, str],
    ready_file: Path,
    rest_path: str,
    uid: str | None,
    email: str | None,
) -> Target:
    try:
        sandbox = read_sandbox(ready_file)
    except LocalStackError as exc:
        raise TargetError(str(exc)) from exc
    signing = env.get("RICHPANEL_SIGNING") or sandbox.signing
    try:
        settings = Settings.from_env({**env, "RICHPANEL_SIGNING": signing})
    except SettingsError as exc:
        raise TargetError(str(exc)) from exc
    return Target(
        name="local sandbox",
        settings=replace(settings, base_url=sandbox.ingest_url),
        credentials=RichpanelCredentials(sandbox.api_key, sandbox.api_secret),
        rest_url=sandbox.url,
        rest_path=_path(rest_path),
        rest_key=sandbox.rest_key,
        uid=uid or DEFAULT_UID,
        email=email or default_email(sandbox.api_key),
    )


def _path(path: str) -> str:
    return "/" + path.strip("/") if path.strip("/") else ""
