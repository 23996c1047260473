"""Render the mapping table as Markdown (``python -m richpanel_destination.mapping.document``)."""

from __future__ import annotations

import json

from .table import ITEM, ORDER_STATUSES, ORDER_TABLES, TABLES, Rule

HEADER = """# Segment to Richpanel mapping

Generated from `layers/common/richpanel_destination/mapping/table.py` by
`make docs`; a test keeps the two equal. Each row reads: Richpanel field ←
the first non-empty Segment source (`path|convert` converts that source; see
[Conversions](#conversions)), else the default. Field rules run in order and
the first value wins; *spread* rows run last and copy whole objects into the
keys no rule mapped, leaving out the listed keys. *documented* fields are in
Richpanel's or Segment's docs; *inferred* ones come from Richpanel's plugins
and SDKs and are assumptions (see `docs/richpanel-wire.md`).

Every call also gets `appClientId` (the API Key) and `time.sentAt` on the wire.

The table is the only description of the mapping. Each container prepares it
once (its paths split, its converters looked up) and `mapping/interpret.py`
walks it for every event; a property test holds that to a plain reading of the
table. Compiling the table to Python instead saved about 12 us per Order
Completed event (9 against 21 us), which `make bench` shows matters for
neither cost nor latency, so the table is interpreted. An `items`
source that is not a list of objects (for example `products: 1`) gives no
items; the value still travels in `properties`.
"""

CONVERSIONS = """
## Conversions

- **`|number`** (the order's `amount` and `discountAmount`, each item's
  `price` and `quantity`): Richpanel expects numbers. A JSON number is sent
  as it is. A *numeric string* is an optional sign, ASCII digits, an
  optional fraction (a dot and digits) and an optional exponent, and nothing
  else; it is converted, digits alone to an integer: `"30"` → `30`,
  `"30.00"` → `30.0`, `"-2.5e1"` → `-25.0`. Not numbers: `" 30"`, `"30."`,
  `".5"`, `"$30"`, `"30 USD"`, `"1,234.50"`, `"1_000"`, `"NaN"`,
  `"Infinity"`. The number must be finite (within a double's range, so not
  `"1e999"`). Anything else (another string, `true`, an object, a list)
  rejects the event (outcome `rejected`, never retried) with the field's
  path, for example `/properties/total` or `/properties/products/2/price`,
  and a message that names the field but not its value. An empty string is
  no value (the next source is tried). The original `properties` (with
  `products`) still ride along as sent.
- **`|string`** (order and item ids): a number becomes a string, an
  integral one written as an integer: `1e16` → `"10000000000000000"` (never
  `"1e+16"`), `30.0` → `"30"`, from the float's shortest digits (`1e23` →
  `"1"` and 23 zeros). Other floats keep their shortest form (`1.5` →
  `"1.5"`); strings are kept as they are.
- **`|list`** wraps a single value in a list; **`|epoch_ms`** turns an
  ISO-8601 timestamp into epoch milliseconds (no value when it is not one);
  **`|platform`** (`platform`) names the sender as Richpanel's plugins name theirs:
  `Segment (<library name> <version>)` from `context.library`, else `Segment`;
  **`|first_word`** and **`|last_words`** split a name on whitespace."""

DECISIONS = """
## Decisions

- **Email on page and track.** Richpanel lets page and track calls update a
  customer's email but not create a customer. We send `userProperties.email`
  on page/track only when the call has a `userId` (a customer Richpanel can
  update); a visitor's (anonymousId-only) page or track carries no email: no
  `userProperties.email`, and the key `email` is left out of the forwarded
  `properties` (the two `properties` rows above: a spread for a known user,
  one without `email` for a visitor). Other keys (`user_email`, `Email`) are
  not read as an email and ride along.
- **Anonymous identify** is rejected (`/userId`): Richpanel requires `uid`.
- **Visitors.** page and track with only an `anonymousId` are delivered with
  `did` and no `uid`.
- **Session.** `richpanel_session_id` becomes `sid` and is removed from the
  forwarded properties and traits.
- **Order events** keep their Segment name as `event` (as the hosted
  destination does) and also carry Richpanel's order fields; `order_status`
  (and `status`) come from `properties.order_status`, or from the event name:
  {statuses}.
- **screen** calls are skipped unless `SCREENS_AS_PAGE_VIEWS=true`
  (template parameter `ScreensAsPageViews`); then they become `page_view`
  with `properties.screen: true`.
- group, alias and delete calls are acknowledged and skipped.
"""


def _sources(rule: Rule) -> str:
    text = " → ".join(f"`{s}`" for s in rule.sources)
    if rule.spread:
        text = f"spread of {text}"
        if rule.excludes:
            text += " without " + ", ".join(f"`{k}`" for k in rule.excludes)
    if rule.each:
        text += " (each item mapped by the item table)"
    if rule.default is not None:
        default = f"default `{json.dumps(rule.default)}`"
        text = f"{text}, else {default}" if text else default
    if rule.requires:
        text += f"; only when `{rule.requires}` is set"
    if rule.unless:
        text += f"; only when `{rule.unless}` is empty"
    return text


def _table(title: str, rules: tuple[Rule, ...]) -> list[str]:
    lines = [f"\n## {title}\n", "| Richpanel field | from Segment | provenance | source |"]
    lines.append("|---|---|---|---|")
    lines += [f"| `{r.dest}` | {_sources(r)} | {r.provenance} | {r.source} |" for r in rules]
    return lines


def render() -> str:
    lines = [HEADER]
    for call_type, rules in TABLES.items():
        lines += _table(call_type, rules)
    for name, rules in ORDER_TABLES.items():
        lines += _table(f"track: {name.title()}", rules)
    lines += _table("order item (each of `properties.products`)", ITEM)
    statuses = ", ".join(f"{k.title()} → `{v}`" for k, v in ORDER_STATUSES.items())
    lines.append(CONVERSIONS)
    lines.append(DECISIONS.format(statuses=statuses))
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
