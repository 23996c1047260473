"""DynamoDB capacity units per event, counted at the persistence layer (the freshness issue).

``python -m bench.dynamodb [OUT]`` (or ``python -m bench.run dynamodb``). Real events go
through ``ingest.deliver_events`` with a stub Richpanel answering 200, against moto
(in-process) with both tables: idempotency (Powertools, key ``id``) and freshness (key
``pk``). Every call the two boto3 clients make is priced by a botocore hook
(:class:`Meter`) by DynamoDB's on-demand rules; the item before and after each write is
read from moto by a separate client, outside the counted traffic.
"""

from __future__ import annotations

import copy
import json
import math
import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import workload

workload.add_paths()

IDEMPOTENCY, FRESHNESS = "bench-idempotency", "bench-freshness"
KEYS = {IDEMPOTENCY: "id", FRESHNESS: "pk"}  # as template.yaml's tables
TABLES = {IDEMPOTENCY: "idempotency", FRESHNESS: "freshness"}
WRITES = ("PutItem", "UpdateItem", "DeleteItem")
GROWTH_KEYS = (5, 10, 20, 30, 40, 50, 60, 100)  # distinct profile keys a customer has
ITEM_CAP = 400 * 1024


# ------------------------------------------------------------------ pricing


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one typed value (DynamoDB JSON), per AWS "Item sizes and formats".

    S: UTF-8 bytes; B: bytes; N: (significant digits + 1) // 2 + 1 (leading/trailing zeros
    trimmed); BOOL/NULL: 1; M/L: 3 + per element (name bytes for M) + value + 1; sets: the
    sum of their elements.
    """
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode("utf-8"))
    if kind == "B":
        return len(v)
    if kind == "N":
        digits = v.lstrip("-").replace(".", "").lstrip("0").rstrip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode("utf-8")) + value_size(x) + 1 for k, x in v.items())
    if kind == "L":
        return 3 + sum(value_size(x) + 1 for x in v)
    if kind == "SS":
        return sum(len(x.encode("utf-8")) for x in v)
    if kind == "NS":
        return sum(value_size({"N": x}) for x in v)
    if kind == "BS":
        return sum(len(x) for x in v)
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item: Mapping[str, Any] | None) -> int:
    """An item's billed size: attribute name bytes + value sizes (0: no item)."""
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + value_size(v) for name, v in item.items())


def write_units(before: int, after: int, failed: bool) -> int:
    """WRU of one write: ceil(max(before, after) / 1 KB), at least 1; a failed condition is
    billed on the existing item (``before``), at least 1."""
    size = before if failed else max(before, after)
    return max(1, math.ceil(size / 1024))


def read_units(size: int, consistent: bool) -> float:
    """RRU of one GetItem: ceil(size / 4 KB), at least 1 (also for no item); half when
    eventually consistent."""
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2


# ------------------------------------------------------------------ meter


@dataclass
class Call:
    """One priced DynamoDB call."""

    table: str
    operation: str
    wru: int = 0
    rru: float = 0.0
    failed: bool = False
    before_bytes: int = 0
    after_bytes: int = 0


@dataclass
class Meter:
    """Prices every call of the instrumented clients; ``peek`` reads items uncounted."""

    peek: Any
    calls: list[Call] = field(default_factory=list)
    unpriced: list[str] = field(default_factory=list)

    def instrument(self, client: Any) -> Any:
        client.meta.events.register("before-parameter-build.dynamodb.*", self._before)
        client.meta.events.register("after-call.dynamodb.*", self._after)
        return client

    def _key(self, params: Mapping[str, Any]) -> dict[str, Any] | None:
        table = params.get("TableName", "")
        if "Key" in params:
            return dict(params["Key"])
        item = params.get("Item") or {}
        name = KEYS.get(table)
        return {name: item[name]} if name and name in item else None

    def _read(self, table: str, key: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if key is None:
            return None
        found = self.peek.get_item(TableName=table, Key=key, ConsistentRead=True)
        item: dict[str, Any] | None = found.get("Item")
        return item

    def _before(self, params: Mapping[str, Any], model: Any, context: Any, **_: Any) -> None:
        if model.name not in (*WRITES, "GetItem"):
            self.unpriced.append(model.name)
            return
        key = self._key(params)
        context["bench_table"] = params.get("TableName", "")
        context["bench_key"] = key
        context["bench_consistent"] = bool(params.get("ConsistentRead"))
        if model.name in WRITES:
            context["bench_before"] = item_size(self._read(params["TableName"], key))

    def _after(self, http_response: Any, parsed: Any, model: Any, context: Any, **_: Any) -> None:
        if "bench_table" not in context:
            return
        table = context["bench_table"]
        call = Call(TABLES.get(table, table), model.name)
        if model.name == "GetItem":
            call.before_bytes = item_size(parsed.get("Item"))
            call.rru = read_units(call.before_bytes, context["bench_consistent"])
        else:
            call.failed = http_response.status_code >= 300
            call.before_bytes = context["bench_before"]
            call.after_bytes = item_size(self._read(table, context["bench_key"]))
            call.wru = write_units(call.before_bytes, call.after_bytes, call.failed)
        self.calls.append(call)

    @contextmanager
    def counting(self) -> Iterator[list[Call]]:
        """The calls made inside the block."""
        start = len(self.calls)
        counted: list[Call] = []
        try:
            yield counted
        finally:
            counted.extend(self.calls[start:])


def summarize(calls: list[Call]) -> dict[str, Any]:
    """Units of one event, by table, and its calls in order."""
    by = {t: sum(c.wru for c in calls if c.table == t) for t in ("freshness", "idempotency")}
    return {
        "freshness_wru": by["freshness"],
        "idempotency_wru": by["idempotency"],
        "total_wru": sum(by.values()),
        "rru": sum(c.rru for c in calls),
        "freshness_item_bytes": max(
            (max(c.before_bytes, c.after_bytes) for c in calls if c.table == "freshness"),
            default=0,
        ),
        "freshness_rest_bytes": next(
            (c.after_bytes for c in reversed(calls) if c.table == "freshness"), 0
        ),
        "calls": [
            f"{c.table}.{c.operation}{' FAILED' if c.failed else ''}"
            f" {c.before_bytes}->{c.after_bytes} B = {c.wru or c.rru} {'WRU' if c.wru else 'RRU'}"
            for c in calls
        ],
    }


# ------------------------------------------------------------------ events


class Clock:
    """Increasing ISO timestamps (each event newer than the last), an hour in the past.

    Every one ends in .123 s: a mark (epoch ms) then has 13 significant digits, 8 bytes, the
    most it can take (a whole-second time trims to 6), so runs and sizes are repeatable.
    """

    def __init__(self) -> None:
        self.ms = (int(time.time()) - 3600) * 1000 + 123

    def next(self) -> str:
        self.ms += 1000
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.ms / 1000))
        return f"{stamp}.{self.ms % 1000:03d}Z"


def trait_names(count: int) -> list[str]:
    """``count`` custom trait keys of 15 characters (``custom_trait_NN``)."""
    return [f"custom_trait_{i:02d}" if i < 100 else f"custom_trait{i}" for i in range(count)]


def identify(uid: str, traits: int = 0) -> dict[str, Any]:
    """events/identify.json (5 profile fields) plus ``traits`` custom trait keys."""
    event = workload.body_of("identify")
    event["userId"] = uid
    event["traits"].update({name: f"value {name}" for name in trait_names(traits)})
    return event


def track(uid: str, email: bool) -> dict[str, Any]:
    event = workload.body_of("track")
    event["userId"] = uid
    if email:
        event["context"]["traits"] = {"email": f"{uid}@example.com"}
    return event


def page(uid: str | None, email: bool) -> dict[str, Any]:
    event = workload.body_of("page")
    event["userId"] = uid
    if email:
        event["context"]["traits"] = {"email": f"{uid}@example.com"}
    return event


def order(uid: str, order_id: str, email: bool) -> dict[str, Any]:
    """workload.order_completed (8 products), with or without userProperties.email."""
    event = workload.order_completed()
    event["userId"] = uid
    event["properties"]["order_id"] = order_id
    if email:
        event["context"]["traits"] = {"email": f"{uid}@example.com"}
    return event


SCENARIOS: dict[str, Any] = {
    "identify": lambda uid: identify(uid),
    "identify_40_traits": lambda uid: identify(uid, 35),  # 5 + 35 = 40 profile keys
    "track": lambda uid: track(uid, email=False),
    "track_email": lambda uid: track(uid, email=True),
    "page": lambda uid: page(None, email=False),
    "page_email": lambda uid: page(uid, email=True),
    "order_completed_email": lambda uid: order(uid, f"o-{uid}", email=True),
    "order_completed": lambda uid: order(uid, f"o-{uid}", email=False),
}


# ------------------------------------------------------------------ the run


class Bench:
    """Delivery with both tables on moto, instrumented clients, and a clock."""

    def __init__(self) -> None:
        import boto3

        from richpanel_destination.delivery.dedupe import Deduplicator, store_client
        from richpanel_destination.delivery.deliver import Delivery
        from richpanel_destination.delivery.freshness import Freshness

        peek = boto3.client("dynamodb")
        for table, key in KEYS.items():
            peek.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        self.peek = peek
        self.meter = Meter(peek)
        richpanel, queues = workload.install_stubs()
        self.richpanel = richpanel
        self.delivery = Delivery(
            richpanel,  # type: ignore[arg-type]
            queues,  # type: ignore[arg-type]
            dedupe=Deduplicator(IDEMPOTENCY, 172_800, self.meter.instrument(store_client())),
            freshness=Freshness(
                FRESHNESS, 34_560_000, "strip", self.meter.instrument(store_client())
            ),
            concurrency=1,
            budget=30,
        )
        for guard in (self.delivery.dedupe, self.delivery.freshness):
            assert guard is not None
            guard.register_lambda_context(workload.FakeContext())  # as the handlers do
        self.clock = Clock()
        self.serial = 0

    def deliver(self, event: dict[str, Any], message_id: str | None = None) -> dict[str, Any]:
        """Deliver one event (a new messageId and a newer timestamp); its units and fate."""
        from richpanel_destination.ingest import deliver_events

        self.serial += 1
        event = copy.deepcopy(event)
        event["messageId"] = message_id or f"bench-{self.serial:06d}"
        event["timestamp"] = self.clock.next()
        with self.meter.counting() as calls:
            (result,) = deliver_events([event], self.delivery)
        return {"fate": result.fate.value, **summarize(calls)}

    def hold_lease(self, uid: str) -> None:
        """Another invocation holds the customer's lease (uncounted)."""
        from richpanel_destination.delivery.freshness import _hashed

        self.peek.update_item(
            TableName=FRESHNESS,
            Key={"pk": {"S": _hashed("uid", uid)}},
            UpdateExpression="SET lease = :t, leaseUntil = :u",
            ExpressionAttributeValues={
                ":t": {"S": "0" * 32},
                ":u": {"N": str(int(time.time() * 1000) + 60_000)},
            },
        )


def per_event(bench: Bench) -> dict[str, Any]:
    """Each call type twice for one customer (and order): first, then steady (repeat)."""
    out: dict[str, Any] = {}
    for name, make in SCENARIOS.items():
        uid = f"user-{name}"
        first = bench.deliver(make(uid))
        steady = bench.deliver(make(uid))
        out[name] = {**steady, "first": first}
    uid = "user-duplicate"
    bench.deliver(identify(uid), "bench-dup")
    out["identify_duplicate"] = bench.deliver(identify(uid), "bench-dup")
    uid = "user-lease-held"
    bench.deliver(identify(uid))
    bench.hold_lease(uid)
    out["identify_lease_held"] = bench.deliver(identify(uid))
    return out


def growth(bench: Bench) -> dict[str, Any]:
    """Units of an identify (5 fields) once a customer has N distinct profile keys."""
    rows: dict[str, Any] = {}
    for keys in GROWTH_KEYS:
        uid = f"user-growth-{keys}"
        bench.deliver(identify(uid, keys - 5))
        row = bench.deliver(identify(uid))
        rows[str(keys)] = {k: row[k] for k in ("freshness_wru", "total_wru", "rru", "fate")} | {
            "item_bytes": row["freshness_item_bytes"],  # billed: the item while leased
            "rest_bytes": row["freshness_rest_bytes"],  # after settle (lease removed)
        }
    (k0, s0), (k1, s1) = (
        (k, rows[str(k)]["item_bytes"]) for k in (GROWTH_KEYS[0], GROWTH_KEYS[-1])
    )
    per_key = (s1 - s0) / (k1 - k0)
    base = s0 - per_key * k0

    def keys_at(size: int) -> int | None:
        return math.floor((size - base) / per_key) if per_key > 0 else None

    return {
        "trait_key_chars": len(trait_names(1)[0]),
        "by_keys": rows,
        "bytes_per_key": per_key,
        "keys_at_1kb": keys_at(1024),  # the most keys a leased item holds in 1 WRU
        "keys_at_400kb_cap": keys_at(ITEM_CAP),
    }


BREAKER_RATES = (1, 10, 100)  # events per second reaching one container


def breaker_reads(bench: Bench) -> dict[str, Any]:
    """Read units the circuit breaker costs per event, at a few rates per container.

    Each event makes the gate's two checks (``held`` before the claims, ``refusal`` at the
    send) against a closed breaker whose item is read at most once per ``cache_seconds``;
    a simulated clock spaces the events, the instrumented client prices every read.
    """
    from richpanel_destination.delivery.breaker import Breaker
    from richpanel_destination.delivery.dedupe import store_client

    out: dict[str, Any] = {}
    client = bench.meter.instrument(store_client())
    for rate in BREAKER_RATES:
        now = [1_000_000.0]
        breaker = Breaker(IDEMPOTENCY, dynamodb=client, clock=lambda now=now: now[0])
        events = rate * 60  # a simulated minute
        with bench.meter.counting() as calls:
            for _ in range(events):
                breaker.held()
                breaker.refusal()
                now[0] += 1 / rate
        rru = sum(c.rru for c in calls)
        out[str(rate)] = {"events": events, "reads": len(calls), "rru_per_event": rru / events}
    return out


@contextmanager
def moto_aws() -> Iterator[None]:
    """moto's in-process AWS with fake credentials (as tests/conftest.py)."""
    from moto import mock_aws

    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
        os.environ.pop(name, None)
    with mock_aws():
        yield


def measure() -> dict[str, Any]:
    """The ``dynamodb_units_per_event`` and ``dynamodb_item_growth`` results."""
    with moto_aws():
        bench = Bench()
        events = per_event(bench)
        grown = growth(bench)
        breaker = breaker_reads(bench)
        unpriced = sorted(set(bench.meter.unpriced))
    return {
        "dynamodb_units_per_event": events,
        "dynamodb_item_growth": grown,
        "dynamodb_breaker_reads": breaker,
        "dynamodb_unpriced_operations": unpriced,
    }


def table(r: Mapping[str, Any]) -> str:
    """A short text table of the units."""
    lines = [
        "DynamoDB units per event (on-demand, priced per call; total: steady / first event;"
        " item B: largest freshness item billed)",
        f"{'call type':<24} {'fresh WRU':>10} {'idem WRU':>9} {'total WRU':>10} {'RRU':>5}"
        f" {'item B':>7}  fate",
    ]
    for name, u in r["dynamodb_units_per_event"].items():
        f = u.get("first")
        first = f" / {f['total_wru']}" if f else ""
        lines.append(
            f"{name:<24} {u['freshness_wru']:>10} {u['idempotency_wru']:>9}"
            f" {str(u['total_wru']) + first:>10} {u['rru']:>5g} {u['freshness_item_bytes']:>7}"
            f"  {u['fate']}"
        )
    g = r["dynamodb_item_growth"]
    lines.append(
        f"per-customer item growth ({g['trait_key_chars']}-char trait keys, "
        f"{g['bytes_per_key']:.0f} B/key; 1 KB at ~{g['keys_at_1kb']} keys, "
        f"400 KB cap at ~{g['keys_at_400kb_cap']} keys)"
    )
    lines.append(
        f"{'profile keys':<24} {'leased B':>10} {'rest B':>9} {'fresh WRU':>10} {'total WRU':>9}"
    )
    for keys, row in g["by_keys"].items():
        lines.append(
            f"{keys:<24} {row['item_bytes']:>10} {row['rest_bytes']:>9}"
            f" {row['freshness_wru']:>10} {row['total_wru']:>9}"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    """Print the table, or write the JSON result to ``argv[0]``."""
    result = measure()
    if argv:
        Path(argv[0]).write_text(json.dumps(result), encoding="utf-8")
    else:
        print(table(result))


if __name__ == "__main__":
    main(sys.argv[1:])
