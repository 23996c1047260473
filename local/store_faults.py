"""Faults in the local idempotency store, for chaos tests: DynamoDB failing after a 2xx.

``LOCAL_STORE_FAULTS=<share>`` (0..1) makes moto refuse the UpdateItem that marks a record
COMPLETED for that share of the keys, every time for a given key (so retries fail too), as
a throttled or unavailable table would. The share of keys is chosen by a hash of the key, so
a run is repeatable. Unset or 0: no faults. Only the local stack reads this.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

VARIABLE = "LOCAL_STORE_FAULTS"


def failing(key: Any, share: float) -> bool:
    """Whether this record key is one of the failing share."""
    digest = hashlib.sha256(repr(sorted(key.items()) if isinstance(key, dict) else key).encode())
    return int.from_bytes(digest.digest()[:4], "big") / 2**32 < share


def apply(environ: dict[str, str] | None = None) -> float:
    """Patch moto's DynamoDB backend in this process from the environment; the share set."""
    raw = (environ if environ is not None else os.environ).get(VARIABLE, "").strip()
    share = float(raw) if raw else 0.0
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"{VARIABLE} must be a share from 0 to 1, got {raw!r}")
    if share == 0.0:
        return share
    from moto.dynamodb.exceptions import DynamodbException
    from moto.dynamodb.models import DynamoDBBackend

    update = getattr(DynamoDBBackend, "_unfaulted_update_item", DynamoDBBackend.update_item)

    def update_item(self: Any, table_name: str, key: Any, *args: Any, **kw: Any) -> Any:
        completing = "status" in str(kw.get("expression_attribute_names"))  # save_success
        if completing and failing(key, share):
            raise DynamodbException(
                "ProvisionedThroughputExceededException", "local store fault (LOCAL_STORE_FAULTS)"
            )
        return update(self, table_name, key, *args, **kw)

    DynamoDBBackend._unfaulted_update_item = update  # type: ignore[attr-defined]
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
    return share
