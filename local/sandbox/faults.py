"""Sandbox fault injection: the behaviour a test sets and what it does to one request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_BEHAVIOUR_FIELDS = {"status", "delay_ms", "retry_after", "times", "body"}
_CHAOS_FIELDS = {"fail_rate", "seed", "failures"}
_RATE_LIMIT_FIELDS = {"per_second", "retry_after"}
RATE_LIMIT_RETRY_AFTER = 1  # Retry-After (s) of a rate-limit 429 when rate_limit omits it


@dataclass(frozen=True)
class RateLimit:
    """At most ``per_second`` requests per one-second window; the rest answer 429.

    A window opens with the first request after the previous one closed and lasts one
    second; requests refused do not count toward it. ``retry_after`` (seconds, None: no
    header) goes out as ``Retry-After`` on each 429.
    """

    per_second: int
    retry_after: int | None = RATE_LIMIT_RETRY_AFTER

    def to_json(self) -> dict[str, Any]:
        """JSON view, in the shape it was given (retry_after filled in)."""
        return {"per_second": self.per_second, "retry_after": self.retry_after}

    @classmethod
    def from_json(cls, payload: Any) -> RateLimit:
        """Validate a behaviour's ``rate_limit`` object."""
        if not isinstance(payload, dict):
            raise ValueError("rate_limit must be a JSON object")
        unknown = set(payload) - _RATE_LIMIT_FIELDS
        if unknown:
            raise ValueError(f"unknown rate_limit fields: {sorted(unknown)}")
        per_second: Any = payload.get("per_second")
        if not _is_int(per_second) or per_second < 1:
            raise ValueError("rate_limit.per_second must be a positive integer")
        retry_after = payload.get("retry_after", RATE_LIMIT_RETRY_AFTER)
        if retry_after is not None and (not _is_int(retry_after) or retry_after < 0):
            raise ValueError("rate_limit.retry_after must be a non-negative integer or null")
        return cls(per_second, retry_after)


@dataclass(frozen=True)
class Failure:
    """One kind of injected failure: an error status, a timeout or a connection reset."""

    status: int | None = None
    retry_after: int | None = None
    body: Any = None
    timeout_ms: float | None = None
    reset: bool = False

    def to_json(self) -> dict[str, Any]:
        """JSON view, in the shape it was given."""
        if self.reset:
            return {"reset": True}
        if self.timeout_ms is not None:
            return {"timeout_ms": self.timeout_ms}
        view: dict[str, Any] = {"status": self.status}
        if self.retry_after is not None:
            view["retry_after"] = self.retry_after
        if self.body is not None:
            view["body"] = self.body
        return view

    @classmethod
    def from_json(cls, payload: Any) -> Failure:
        """Validate one entry of `failures`."""
        if not isinstance(payload, dict):
            raise ValueError("each failure must be a JSON object")
        kinds = [kind for kind in ("status", "timeout_ms", "reset") if kind in payload]
        if len(kinds) != 1:
            raise ValueError("each failure needs exactly one of status, timeout_ms, reset")
        allowed = {"status", "retry_after", "body"} if kinds == ["status"] else set(kinds)
        unknown = set(payload) - allowed
        if unknown:
            raise ValueError(f"unknown fields for a {kinds[0]} failure: {sorted(unknown)}")
        if kinds == ["reset"]:
            if payload["reset"] is not True:
                raise ValueError("reset must be true")
            return cls(reset=True)
        if kinds == ["timeout_ms"]:
            timeout_ms = payload["timeout_ms"]
            if not _is_number(timeout_ms) or timeout_ms < 0:
                raise ValueError("timeout_ms must be a non-negative number")
            return cls(timeout_ms=timeout_ms)
        status = payload["status"]
        if not _is_int(status) or not 100 <= status <= 599:
            raise ValueError("failure status must be an HTTP status code")
        retry_after = payload.get("retry_after")
        if retry_after is not None and (not _is_int(retry_after) or retry_after < 0):
            raise ValueError("retry_after must be a non-negative integer or null")
        return cls(status=status, retry_after=retry_after, body=payload.get("body"))


@dataclass
class Behaviour:
    """Injected misbehaviour for the next `times` ingest requests (None = until reset).

    Every such request waits delay_ms; then, beyond `rate_limit` (when set) in the current
    window, it answers 429; else, with probability fail_rate, it fails in one of the
    `failures` ways (chosen uniformly); otherwise it answers `status` when set, or normally.
    """

    status: int | None = None
    delay_ms: float = 0
    retry_after: int | None = None
    times: int | None = None
    body: Any = None
    fail_rate: float | None = None
    seed: int | None = None
    failures: tuple[Failure, ...] = ()
    rate_limit: RateLimit | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON view (times = how many requests it still applies to)."""
        view = {
            "status": self.status,
            "delay_ms": self.delay_ms,
            "retry_after": self.retry_after,
            "times": self.times,
            "body": self.body,
        }
        if self.fail_rate is not None:
            view["fail_rate"] = self.fail_rate
            view["seed"] = self.seed
            view["failures"] = [failure.to_json() for failure in self.failures]
        if self.rate_limit is not None:
            view["rate_limit"] = self.rate_limit.to_json()
        return view

    @classmethod
    def from_json(cls, payload: Any) -> Behaviour:
        """Validate a POST /_sandbox/behaviour body."""
        if not isinstance(payload, dict):
            raise ValueError("behaviour must be a JSON object")
        unknown = set(payload) - _BEHAVIOUR_FIELDS - _CHAOS_FIELDS - {"rate_limit"}
        if unknown:
            raise ValueError(f"unknown behaviour fields: {sorted(unknown)}")
        status = payload.get("status")
        if status is not None and (not _is_int(status) or not 100 <= status <= 599):
            raise ValueError("status must be an HTTP status code")
        delay_ms = payload.get("delay_ms") or 0
        if not _is_number(delay_ms) or delay_ms < 0:
            raise ValueError("delay_ms must be a non-negative number")
        retry_after = payload.get("retry_after")
        if retry_after is not None and (not _is_int(retry_after) or retry_after < 0):
            raise ValueError("retry_after must be a non-negative integer or null")
        times = payload.get("times")
        if times is not None and (not _is_int(times) or times < 1):
            raise ValueError("times must be a positive integer or null")
        fail_rate, seed, failures = _chaos_from_json(payload)
        raw_limit = payload.get("rate_limit")
        rate_limit = None if raw_limit is None else RateLimit.from_json(raw_limit)
        return cls(
            status,
            delay_ms,
            retry_after,
            times,
            payload.get("body"),
            fail_rate,
            seed,
            failures,
            rate_limit,
        )


def _chaos_from_json(
    payload: dict[str, Any],
) -> tuple[float | None, int | None, tuple[Failure, ...]]:
    """fail_rate, seed and failures of a behaviour body (fail_rate defaults to 1 with failures)."""
    raw_failures = payload.get("failures")
    if raw_failures is not None and not isinstance(raw_failures, list):
        raise ValueError("failures must be a list")
    failures = tuple(Failure.from_json(item) for item in raw_failures or ())
    fail_rate = payload.get("fail_rate")
    if fail_rate is None and failures:
        fail_rate = 1.0
    if fail_rate is not None and (not _is_number(fail_rate) or not 0 <= fail_rate <= 1):
        raise ValueError("fail_rate must be a number from 0 to 1")
    if fail_rate and not failures:
        raise ValueError("fail_rate needs a non-empty failures list")
    seed = payload.get("seed")
    if seed is not None and not _is_int(seed):
        raise ValueError("seed must be an integer or null")
    if seed is not None and fail_rate is None:
        raise ValueError("seed needs fail_rate and failures")
    return (None if fail_rate is None else float(fail_rate)), seed, failures


@dataclass(frozen=True)
class Injection:
    """What the behaviour does to one ingest request."""

    delay_ms: float = 0
    status: int | None = None
    retry_after: int | None = None
    body: Any = None
    failure: Failure | None = None
    rate_limited: bool = False  # refused by the behaviour's rate_limit (status 429)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def injected(what: str, error: str | None) -> str:
    """The recorded error of an injected failure (after the contract error, if any)."""
    return f"injected {what}" + (f" ({error})" if error else "")
