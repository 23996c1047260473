"""Freshest data wins: an event older than what Richpanel has never overwrites it.

Marks live in DynamoDB, one small item per customer (``uid``) and one per order:

- a customer's item maps each profile field last delivered (email, names, phone,
  addresses, each trait key) to the event time of that value;
- an order's item holds the event time of its last delivered state (``state``).

Protocol, the same for ingest, retry, redrive and replay (this module is the only place):

1. **lease**: one conditional UpdateItem per item the event touches takes a lease that
   expires with the invocation (as Powertools' in-progress record) and returns the marks.
   A held lease is a loser of the race: the event is queued and retried (IN_FLIGHT), so a
   customer's other events never wait behind it and two sends never race in Richpanel.
2. **strip**: fields older than their mark leave the call; an identify with nothing newer
   left, or (STALE_ORDER_EVENTS=supersede) a stale order event, is not sent: SUPERSEDED.
   A stale order event is otherwise sent without its state fields: it reaches the timeline.
3. **settle**: only after Richpanel accepted the call do the marks move (and the lease goes);
   any other outcome only releases the lease.

Track and page events without an email, and identifies without profile fields, touch
nothing. Each lease and settle is one write unit while an item stays under 1 KB (about 38
trait keys of 15 characters, make bench); keys are hashed: no userId or order id in clear.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from ..limits import HELD_RETRY_SECONDS, held_retry_after, reason
from ..mapping.table import ORDER_STATE_FIELDS, ORDER_STATUSES
from ..richpanel.outcomes import Kind, Outcome

Send = Callable[[Mapping[str, Any]], Outcome]
STALE_ORDER_EVENTS = ("strip", "supersede")  # STALE_ORDER_EVENTS setting
DEFAULT_LEASE_SECONDS = 30  # without a Lambda context: how long a lease holds
SETTLE_ATTEMPTS = 2
# Every attribute by a placeholder: DynamoDB reserves words such as AT and BY.
NAMES = {"#lease": "lease", "#until": "leaseUntil", "#m": "m", "#at": "at", "#by": "by",
         "#exp": "expires"}  # fmt: skip
TAKE_LEASE = (
    "SET #lease = :token, #until = :until, #m = if_not_exists(#m, :empty),"
    " #exp = if_not_exists(#exp, :exp)"  # an item never marked still expires
)
FREE = "attribute_not_exists(#lease) OR #until < :now"
HELD = "#lease = :token"
RELEASE = "REMOVE #lease, #until"
STATE = "state"  # an order item's one mark
# A loser of the race: queued, and retried with the retry queue's backoff (a lease is held
# for one send, so it is usually free by the first retry).
LEASE_HELD = Outcome(Kind.IN_FLIGHT, "another event for this customer or order is being delivered")


def _hashed(kind: str, value: str) -> str:
    return f"{kind}#{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}"


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Subject:
    """One item an event's call sets: a customer's profile fields, or an order's state."""

    key: str
    fields: tuple[str, ...]
    order: bool = False


def subjects(event: Mapping[str, Any], call: Mapping[str, Any]) -> list[Subject]:
    """What a mapped call would set in Richpanel, by item (sorted: leases in one order)."""
    found: list[Subject] = []
    user = call.get("userProperties")
    user = user if isinstance(user, dict) else {}
    uid = user.get("uid")
    profile = tuple(sorted(k for k, v in user.items() if k != "uid" and v is not None))
    if isinstance(uid, str) and uid and profile:
        found.append(Subject(_hashed("uid", uid), profile))
    name = event.get("event")
    properties = call.get("properties")
    if (
        event.get("type") == "track"
        and isinstance(name, str)
        and name.strip().lower() in ORDER_STATUSES
        and isinstance(properties, dict)
    ):
        # the mapped (string) id: with documented names only orderId is mapped, and
        # order_id is then Segment's own value, which may be a number
        ids = (properties.get("order_id"), properties.get("orderId"))
        order_id = next((i for i in ids if isinstance(i, str) and i), None)
        if order_id is not None:
            found.append(Subject(_hashed("order", order_id), (STATE,), order=True))
    return sorted(found, key=lambda s: s.key)


@dataclass
class Lease:
    """Leases held for one event, the marks they returned, and the call to send."""

    freshness: Freshness | None  # None: the guard is off, the call goes as mapped
    token: str
    time_ms: int
    message_id: str | None
    held: list[tuple[Subject, dict[str, Any]]] = field(default_factory=list)
    fresh: dict[str, tuple[str, ...]] = field(default_factory=dict)  # key -> fields to mark
    call: Mapping[str, Any] = field(default_factory=dict)

    def settle(self, answer: Outcome) -> Outcome:
        """Move the marks if Richpanel accepted the call; release the leases either way."""
        return answer if self.freshness is None else self.freshness._settle(self, answer)


class Freshness:
    """The freshest-data guard over one DynamoDB table (key ``pk``, TTL ``expires``)."""

    def __init__(
        self,
        table_name: str,
        ttl_seconds: int,
        stale_orders: str = "strip",
        dynamodb: Any | None = None,
    ) -> None:
        if dynamodb is None:
            from .dedupe import store_client  # one bounded DynamoDB client configuration

            dynamodb = store_client()
        self.table = table_name
        self.ttl_seconds = ttl_seconds
        self.stale_orders = stale_orders
        self._dynamodb = dynamodb
        self._context: Any = None

    def register_lambda_context(self, context: Any) -> None:
        """Let leases expire with the invocation that holds them."""
        self._context = context

    def send(
        self,
        event: Mapping[str, Any],
        time_ms: int,
        message_id: str | None,
        call: Mapping[str, Any],
        send: Send,
    ) -> Outcome:
        """Send what is newer than Richpanel's data, and move the marks; never raises."""
        lease = self.lease(event, time_ms, message_id, call)
        if isinstance(lease, Outcome):
            return lease
        return lease.settle(send(lease.call))

    def lease(
        self,
        event: Mapping[str, Any],
        time_ms: int,
        message_id: str | None,
        call: Mapping[str, Any],
    ) -> Lease | Outcome:
        """Take the event's leases and strip what is stale: a Lease, or why it is not sent."""
        touched = subjects(event, call)
        lease = Lease(self, uuid.uuid4().hex, time_ms, message_id, call=call)
        if not touched:
            return lease
        for subject in touched:
            marks = self._take(subject, lease.token)
            if isinstance(marks, Outcome):
                self._release(lease)
                return marks
            lease.held.append((subject, marks))
        return self._strip(event, lease)

    def _strip(self, event: Mapping[str, Any], lease: Lease) -> Lease | Outcome:
        call = dict(lease.call)
        newest: tuple[int, Any] | None = None  # the newest mark that beat this event
        stale_order = False
        for subject, item in lease.held:
            marks = item.get("m") or {}
            stale = tuple(f for f in subject.fields if int(marks.get(f, -1)) > lease.time_ms)
            fresh = tuple(f for f in subject.fields if f not in stale)
            if stale:
                beaten = max(int(marks[f]) for f in stale)
                by = item.get("by") if int(item.get("at", -1)) == beaten else None
                if newest is None or beaten > newest[0]:
                    newest = (beaten, by)
            if subject.order:
                stale_order = bool(stale)
                if stale_order:
                    properties = call.get("properties") or {}
                    call["properties"] = {
                        k: v for k, v in properties.items() if k not in ORDER_STATE_FIELDS
                    }
            elif stale:
                user = call.get("userProperties") or {}
                call["userProperties"] = {k: v for k, v in user.items() if k not in stale}
            if fresh:
                lease.fresh[subject.key] = fresh
        profile_left = any(not s.order and s.key in lease.fresh for s, _ in lease.held)
        superseded = (event.get("type") == "identify" and not profile_left) or (
            stale_order and self.stale_orders == "supersede" and not profile_left
        )
        if superseded and newest is not None:
            self._release(lease)
            by = f" (messageId {newest[1]})" if newest[1] else ""
            return Outcome(Kind.SUPERSEDED, f"Richpanel has newer data from {_iso(newest[0])}{by}")
        lease.call = call
        return lease

    def _take(self, subject: Subject, token: str) -> dict[str, Any] | Outcome:
        """Lease one item; its marks, or LEASE_HELD, or RETRYABLE when the store fails."""
        now_ms = int(time.time() * 1000)
        try:
            answer = self._dynamodb.update_item(
                TableName=self.table,
                Key={"pk": {"S": subject.key}},
                UpdateExpression=TAKE_LEASE,
                ConditionExpression=FREE,
                ExpressionAttributeNames=_used(TAKE_LEASE, FREE),
                ExpressionAttributeValues={
                    ":token": {"S": token},
                    ":until": {"N": str(now_ms + self._lease_ms())},
                    ":now": {"N": str(now_ms)},
                    ":empty": {"M": {}},
                    ":exp": {"N": str(now_ms // 1000 + self.ttl_seconds)},
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",  # the holder's leaseUntil
            )
        except Exception as exc:
            if _conditional(exc):
                return _held_until(exc, now_ms)
            return Outcome(Kind.RETRYABLE, reason(f"freshness store: {type(exc).__name__}: {exc}"))
        return _plain(answer.get("Attributes") or {})

    def _lease_ms(self) -> int:
        context = self._context
        if context is not None:
            return max(1000, int(context.get_remaining_time_in_millis()))
        return DEFAULT_LEASE_SECONDS * 1000

    def _settle(self, lease: Lease, answer: Outcome) -> Outcome:
        if answer.kind is not Kind.DELIVERED or not lease.fresh:
            self._release(lease)
            return answer
        problem: BaseException | None = None
        for subject, item in lease.held:
            fields = lease.fresh.get(subject.key)
            if not fields:
                self._release_one(subject, lease.token)
                continue
            for attempt in range(SETTLE_ATTEMPTS):
                try:
                    self._mark(subject, item, fields, lease)
                    break
                except Exception as exc:
                    if attempt + 1 == SETTLE_ATTEMPTS:
                        problem = exc
        if problem is not None:
            note = reason(f"freshness marks not saved: {type(problem).__name__}: {problem}")
            return replace(answer, record_failed=note)
        return answer

    def _mark(
        self, subject: Subject, item: dict[str, Any], fields: tuple[str, ...], lease: Lease
    ) -> None:
        """Set the fields' marks to the event's time and release the lease (if still ours)."""
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        sets = [f"#m.{alias} = :t" for alias in names]
        removes = ["#lease", "#until"]
        values: dict[str, Any] = {
            ":t": {"N": str(lease.time_ms)},
            ":exp": {"N": str(int(time.time()) + self.ttl_seconds)},
            ":token": {"S": lease.token},
        }
        if lease.time_ms >= int(item.get("at", -1)):
            sets.append("#at = :t")
            if lease.message_id:
                sets.append("#by = :by")
                values[":by"] = {"S": lease.message_id}
            else:  # the newest time is no longer the older messageId's
                removes.append("#by")
        sets.append("#exp = :exp")
        update = f"SET {', '.join(sets)} REMOVE {', '.join(removes)}"
        try:
            self._dynamodb.update_item(
                TableName=self.table,
                Key={"pk": {"S": subject.key}},
                UpdateExpression=update,
                ConditionExpression=HELD,
                ExpressionAttributeNames=names | _used(update, HELD),
                ExpressionAttributeValues=values,
            )
        except Exception as exc:
            if not _conditional(exc):
                raise
            self._mark_late(subject, fields, lease)

    def _mark_late(self, subject: Subject, fields: tuple[str, ...], lease: Lease) -> None:
        """Our lease expired and another holder took it: move each mark only forward."""
        for name in fields:
            with contextlib.suppress(Exception):
                self._dynamodb.update_item(
                    TableName=self.table,
                    Key={"pk": {"S": subject.key}},
                    UpdateExpression="SET #m.#f = :t",
                    ConditionExpression="attribute_not_exists(#m.#f) OR #m.#f < :t",
                    ExpressionAttributeNames={"#f": name, "#m": "m"},
                    ExpressionAttributeValues={":t": {"N": str(lease.time_ms)}},
                )

    def _release(self, lease: Lease) -> None:
        for subject, _ in lease.held:
            self._release_one(subject, lease.token)

    def _release_one(self, subject: Subject, token: str) -> None:
        """Give a lease back (if it fails, the lease expires with the invocation)."""
        with contextlib.suppress(Exception):
            self._dynamodb.update_item(
                TableName=self.table,
                Key={"pk": {"S": subject.key}},
                UpdateExpression=RELEASE,
                ConditionExpression=HELD,
                ExpressionAttributeNames=_used(RELEASE, HELD),
                ExpressionAttributeValues={":token": {"S": token}},
            )


def chains(items: list[Any], touched: Callable[[Any], list[Subject]]) -> list[list[Any]]:
    """Items grouped so that those touching a common item share a group, in their order.

    Ingest sends a group's events one after another, so events of one request never race
    each other for a lease (another request's events still may: the loser is queued).
    """
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, item in enumerate(items):
        for subject in touched(item):
            if subject.key in owner:
                parent[root(i)] = root(owner[subject.key])
            else:
                owner[subject.key] = i
    groups: dict[int, list[Any]] = {}
    for i, item in enumerate(items):
        groups.setdefault(root(i), []).append(item)
    return list(groups.values())


def _used(*expressions: str) -> dict[str, str]:
    """The NAMES placeholders the expressions use (DynamoDB refuses unused ones)."""
    found = set(re.findall(r"#\w+", " ".join(expressions)))
    return {k: v for k, v in NAMES.items() if k in found}


def _held_until(exc: BaseException, now_ms: int) -> Outcome:
    """LEASE_HELD, retried within HELD_RETRY_SECONDS, or when the holder's lease (its
    leaseUntil) would expire if that is sooner."""
    until = (getattr(exc, "response", {}).get("Item") or {}).get("leaseUntil", {}).get("N")
    left = HELD_RETRY_SECONDS if until is None else (int(until) - now_ms) / 1000
    return replace(LEASE_HELD, retry_after=held_retry_after(left))


def _conditional(exc: BaseException) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code")
    return bool(code == "ConditionalCheckFailedException")


def _plain(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The item's marks (``m``), newest time (``at``) and its messageId (``by``)."""
    marks = attributes.get("m", {}).get("M", {})
    item: dict[str, Any] = {"m": {k: int(v["N"]) for k, v in marks.items() if "N" in v}}
    if "at" in attributes:
        item["at"] = int(attributes["at"]["N"])
    if "by" in attributes:
        item["by"] = attributes["by"]["S"]
    return item
