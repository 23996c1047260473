"""What `make run` prints: where everything listens, and how to try it."""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING

from local.secrets import LOCAL_WEBHOOK_SECRET, LOCAL_WRITE_KEY

if TYPE_CHECKING:
    from local.run import LocalStack


def banner(stack: LocalStack) -> str:
    """Human-readable summary of where everything listens."""
    from local.run import BASE_URL_PARAMETER  # local.run imports this module

    assert stack.api and stack.sandbox and stack.sqs and stack.context
    routes = stack.template.api_routes(stack.context)
    kind = "HTTP API, payload 2.0" if stack.api.kind == "http" else "REST API, payload 1.0"
    lines = [
        f"Local stack {stack.context.stack_name} (from {stack.template.base_dir}/template.yaml)",
        f"  API ({kind}; stage {stack.api.stage}, paths without the stage prefix): {stack.api.url}",
    ]
    posts = [r for r in routes if r.method != "OPTIONS"]  # each path's CORS preflight apart
    lines += [f"    {r.method:6} {stack.api.url}{r.path}  -> {r.function_id}" for r in posts]
    preflights = len(routes) - len(posts)
    if preflights:
        origins = stack.context.parameters.get("AllowedOrigins", "") or "none (the default)"
        lines.append(
            f"    OPTIONS on {preflights} of them (CORS preflight); AllowedOrigins: {origins}"
        )
    example = next((r for r in posts if r.path.endswith("/track")), posts[0] if posts else None)
    if example is not None:
        payload = json.dumps(
            {
                "type": "track",
                "event": "Order Completed",
                "userId": "user-1",
                "messageId": "local-example-1",
                "timestamp": "2024-01-01T00:00:00Z",
                "properties": {"order_id": "1001", "total": 10},
            }
        )
        lines.append(
            f"    try: curl -sS -u {LOCAL_WRITE_KEY}: -X {example.method} "
            f"{stack.api.url}{example.path} "
            f"-H 'Content-Type: application/json' -d {shlex.quote(payload)}"
        )
    auth = stack.environment.get("INBOUND_AUTH", "")
    lines.append(
        f"  inbound auth: {auth}; write key {LOCAL_WRITE_KEY!r} (Basic auth or body "
        f"writeKey), webhook secret {LOCAL_WEBHOOK_SECRET!r} (X-Signature)"
    )
    config = stack.sandbox.state.config
    signing = config.signing if config.secret else "unsigned"
    base_url = stack.environment.get("RICHPANEL_BASE_URL") or stack.context.parameters.get(
        BASE_URL_PARAMETER
    )
    lines += [
        f"  Richpanel sandbox: {stack.sandbox.url}  (functions post to {base_url}; "
        f"appClientId {config.app_client_id!r}, signing {signing})",
        f"    calls:     curl -sS {stack.sandbox.url}/_sandbox/calls",
        f"    misbehave: curl -sS -X POST {stack.sandbox.url}/_sandbox/behaviour "
        '-d \'{"status": 503, "times": 1}\'',
        f"  SQS (moto): {stack.sqs.endpoint_url}  (AWS_ENDPOINT_URL; keys testing/testing, "
        f"{stack.context.region})",
    ]
    lines += [f"    {q.logical_id:16} {q.url}" for q in stack.queues.values()]
    if stack.tables:
        lines.append(f"  DynamoDB (moto, same endpoint): {stack.sqs.endpoint_url}")
        lines += [
            f"    {t.logical_id:16} {t.name}"
            + (f"  (TTL on {t.ttl_attribute})" if t.ttl_attribute else "")
            for t in stack.tables.values()
        ]
    lines += [
        f"    poller: {p.function.spec.logical_id} <- {p.queue_url.rsplit('/', 1)[-1]} "
        f"(batch {p.source.batch_size}, window {p.source.maximum_batching_window_seconds:g}s, "
        f"{p.workers} worker(s))"
        for p in stack.pollers
    ]
    lines += [
        f"    schedule: {s.function.spec.logical_id} every {s.interval:g}s "
        "(LOCAL_SCHEDULE_SECONDS overrides)"
        for s in stack.schedulers
    ]
    lines.append(workers_line(stack))
    if stack.overridden:
        lines.append(f"  From your environment: {', '.join(stack.overridden)}")
    lines.append("Ctrl-C to stop.")
    return "\n".join(lines)


def workers_line(stack: LocalStack) -> str:
    """How the functions run: worker processes per function, or all in this process."""
    from local.workers import API_WORKERS_VARIABLE, ProcessFunction

    if stack.workers != "process":
        turns = "one invocation at a time" if stack.serialize_invocations else "in parallel"
        return f"  workers: inline (every handler in this process, {turns})"
    sizes = ", ".join(
        f"{logical_id} up to {function.pool.size}"
        for logical_id, function in stack.functions.items()
        if isinstance(function, ProcessFunction)
    )
    return (
        f"  workers: process, one warm per function, more on demand ({sizes}; "
        f"{API_WORKERS_VARIABLE} sets the API functions')"
    )
