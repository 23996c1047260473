"""Run the whole stack locally: moto SQS/DynamoDB, Richpanel sandbox, API and SQS poller.

``python -m local.run [--api-port 3000] [--sandbox-port 4010] [--sqs-port 0]
[--host 127.0.0.1] [--ready-file PATH] [--parameter ApiKind=http ...]``. Everything is read
from template.yaml, with its parameter defaults overlaid by ``--parameter NAME=VALUE`` (as
``sam deploy --parameter-overrides``; e.g. ApiKind=http serves the HTTP API and its payload
format 2.0 instead of the REST API's 1.0); a
variable the template declares that is also set in this process's environment keeps the
environment's value (e.g. ``RETRY_BACKOFF_BASE_SECONDS=0.2`` or ``RICHPANEL_BASE_URL``).
Each function runs in worker processes of its own (``--workers process``, local/workers.py;
``--workers inline`` runs every handler in this process, one invocation at a time).
Handler output (Powertools JSON lines) goes to stdout unchanged; the runner's own messages
(the where-is-everything banner, tracebacks) go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3

from local import store_faults
from local.api import LocalApi, targets_from_template
from local.banner import banner
from local.dynamodb import (
    TableInfo,
    create_template_tables,
    dynamodb_client,
    register_template_tables,
)
from local.lambda_runtime import Function, load_function
from local.logfile import LogFile, Tee
from local.poller import SqsPoller
from local.resolved import ResolvedTemplate
from local.sandbox import Sandbox
from local.scheduler import Scheduler, schedulers
from local.secrets import (
    LOCAL_INBOUND,
    put_secret,
    richpanel_secret,
)
from local.sqs import (
    FAKE_ACCESS_KEY,
    FAKE_SECRET_KEY,
    LocalSqs,
    QueueInfo,
    create_template_queues,
    sqs_client,
)
from local.template import FunctionSpec, ResolveContext, Template, TemplateError
from local.workers import MODES, ProcessFunction, pool_sizes, process_functions, start_pools

# Template parameters the local stack sets; everything else keeps its Default.
BASE_URL_PARAMETER = "RichpanelBaseUrl"
RICHPANEL_SECRET_PARAMETER = "RichpanelSecretArn"
INBOUND_SECRET_PARAMETER = "InboundSecretArn"
REST_SECRET_PARAMETER = "RichpanelRestSecretArn"  # optional: set, the canary exists
API_URL_VARIABLE = "CANARY_API_URL"  # the stack's own API: locally, the local API's URL
SIGNING_PARAMETER = "RichpanelSigning"
DEFAULT_INGEST_VERSION_PATH = "/v2"

# Variables that would send boto3 elsewhere than moto or mix in real credentials.
_AWS_VARIABLES_TO_DROP = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_DYNAMODB",
)


class ConfigurationError(Exception):
    """The local stack cannot be configured from the template."""


def merged_environment(
    specs: list[FunctionSpec], context: ResolveContext, overrides: Mapping[str, str]
) -> dict[str, str]:
    """Resolved Environment Variables of all functions (one process: they must agree).

    A name also present in overrides takes the override's value.
    """
    merged: dict[str, str] = {}
    owners: dict[str, str] = {}
    for spec in specs:
        if spec.condition and not context.condition(spec.condition):
            continue  # CloudFormation would not create it
        for name, raw in spec.environment.items():
            if name in overrides:
                merged[name] = overrides[name]
                continue
            value = context.resolve_str(raw)
            if name in merged and merged[name] != value:
                raise ConfigurationError(
                    f"{name} is {merged[name]!r} for {owners[name]} but {value!r} for "
                    f"{spec.logical_id}; both run in one process (set {name} to override)"
                )
            merged[name] = value
            owners.setdefault(name, spec.logical_id)
    return merged


def effective_parameter(
    specs: list[FunctionSpec], parameters: Mapping[str, str], name: str, env: Mapping[str, str]
) -> str:
    """A parameter's value as the functions will see it, after environment overrides."""
    for spec in specs:
        for variable, raw in spec.environment.items():
            if raw == {"Ref": name} and variable in env:
                return env[variable]
    return parameters.get(name, "")


class LocalStack:
    """moto SQS/DynamoDB + sandbox + handlers + API + pollers, configured from the template."""

    def __init__(
        self,
        template: Template,
        host: str = "127.0.0.1",
        api_port: int = 3000,
        sandbox_port: int = 4010,
        sqs_port: int = 0,
        environ: Mapping[str, str] | None = None,
        serialize_invocations: bool = True,
        workers: str = "inline",
        parameters: Mapping[str, str] | None = None,
    ) -> None:
        """Configure; environ is the caller's environment (its declared names win).

        parameters: template parameter values over the defaults (e.g. {"ApiKind": "http"});
        the ones the local stack sets itself (secrets, Richpanel's URL) are still its own.

        workers: "process" runs each function in worker processes of its own (as
        `python -m local.run` does); "inline" loads every handler into this process, for
        tests that patch handler modules or capture their output (serialize_invocations:
        one invocation at a time there, as the handlers share Powertools' singletons).
        """
        if workers not in MODES:
            raise ValueError(f"workers must be one of {MODES}, not {workers!r}")
        self.template = template
        self.host = host
        self.api_port = api_port
        self.sandbox_port = sandbox_port
        self.sqs_port = sqs_port
        self.environ = dict(os.environ if environ is None else environ)
        self.serialize_invocations = serialize_invocations
        self.workers = workers
        self.parameters = dict(parameters or {})
        self.context: ResolveContext | None = None
        self.sqs: LocalSqs | None = None
        self.sandbox: Sandbox | None = None
        self.api: LocalApi | None = None
        self.queues: dict[str, QueueInfo] = {}
        self.tables: dict[str, TableInfo] = {}
        self.log_groups: list[str] = []
        self.functions: dict[str, Function] = {}
        self.pollers: list[SqsPoller] = []
        self.schedulers: list[Scheduler] = []
        self.environment: dict[str, str] = {}
        self.overridden: list[str] = []
        self.richpanel_secret: dict[str, str] = {}

    def start(self) -> None:
        """Start every component (os.environ is changed: this is meant for one process)."""
        specs = list(self.template.functions().values())
        for name in (BASE_URL_PARAMETER, RICHPANEL_SECRET_PARAMETER, INBOUND_SECRET_PARAMETER):
            if name not in self.template.parameters:
                raise ConfigurationError(f"template has no parameter {name}")
        self.context = context = self.template.context(self.parameters)
        # Which API answers (ApiKind): checked before anything starts.
        active_api = self.template.active_api(context)

        for name in _AWS_VARIABLES_TO_DROP:
            os.environ.pop(name, None)
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_KEY,
                "AWS_DEFAULT_REGION": context.region,
                "AWS_REGION": context.region,
            }
        )
        store_faults.apply(self.environ)  # chaos only: LOCAL_STORE_FAULTS
        self.sqs = LocalSqs(self.host, self.sqs_port)
        os.environ["AWS_ENDPOINT_URL"] = self.sqs.start()
        register_template_tables(self.template, context)  # queues may name a table
        self.queues = create_template_queues(
            self.sqs.client(context.region), self.template, context
        )
        self.tables = create_template_tables(
            dynamodb_client(self.sqs.endpoint_url, context.region), self.template, context
        )
        self.log_groups = self._create_log_groups(context)

        self.richpanel_secret = richpanel_secret(self.environ)
        for parameter, name, value in (
            (RICHPANEL_SECRET_PARAMETER, "richpanel", self.richpanel_secret),
            (INBOUND_SECRET_PARAMETER, "inbound", LOCAL_INBOUND),
        ):
            secret_name = f"{context.stack_name}/{name}"
            context.parameters[parameter] = put_secret(
                self.sqs.endpoint_url, context.region, secret_name, value
            )
        signing = effective_parameter(specs, context.parameters, SIGNING_PARAMETER, self.environ)
        self.sandbox = Sandbox(
            app_client_id=self.richpanel_secret["apiKey"],
            secret=self.richpanel_secret["apiSecret"] or None,
            signing=signing or "md5",
            host=self.host,
            port=self.sandbox_port,
        ).start()
        default_base = self.template.parameter_defaults().get(BASE_URL_PARAMETER, "")
        version_path = urlsplit(default_base).path.rstrip("/") or DEFAULT_INGEST_VERSION_PATH
        context.parameters[BASE_URL_PARAMETER] = self.sandbox.url + version_path
        if REST_SECRET_PARAMETER in self.template.parameters:  # the canary reads the sandbox
            rest = {"restKey": self.sandbox.state.config.rest_key, "restUrl": self.sandbox.url}
            context.parameters[REST_SECRET_PARAMETER] = put_secret(
                self.sqs.endpoint_url, context.region, f"{context.stack_name}/rest", rest
            )
        specs = [s for s in specs if not s.condition or context.condition(s.condition)]

        declared = {name for spec in specs for name in spec.environment}
        overrides = {name: self.environ[name] for name in declared if name in self.environ}
        if API_URL_VARIABLE in declared:  # known once the API listens (set below)
            overrides.setdefault(API_URL_VARIABLE, "")
        self.overridden = sorted(name for name in overrides if name in self.environ)
        self.environment = merged_environment(specs, context, overrides)
        os.environ.update(self.environment)
        os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"

        self.functions = self._functions(specs, context)
        self.api = LocalApi(
            targets_from_template(self.template, self.functions, context),
            stage=self.template.api_stage_name(context),
            host=self.host,
            port=self.api_port,
            account_id=context.account_id,
            kind=active_api.kind if active_api else "rest",
            gateway_responses=self.template.gateway_responses(context),
        ).start()
        if API_URL_VARIABLE in declared and not self.environ.get(API_URL_VARIABLE):
            os.environ[API_URL_VARIABLE] = self.environment[API_URL_VARIABLE] = self.api.url
        # Workers start once the environment is complete (the API's URL); all in parallel.
        start_pools(
            [f.pool for f in self.functions.values() if isinstance(f, ProcessFunction)], os.environ
        )
        self._start_pollers(context)
        self.schedulers = schedulers(self.template, self.functions, context, self.environ)
        for scheduler in self.schedulers:
            scheduler.start()

    def _create_log_groups(self, context: ResolveContext) -> list[str]:
        """The template's log groups, empty, in moto: AuditFunction's Logs Insights query finds
        them (and no lines: the functions' lines go to stdout and the --log-file)."""
        assert self.sqs is not None
        client = boto3.client(
            "logs",
            endpoint_url=self.sqs.endpoint_url,
            region_name=context.region,
            aws_access_key_id=FAKE_ACCESS_KEY,
            aws_secret_access_key=FAKE_SECRET_KEY,
        )
        names = []
        resolved = ResolvedTemplate(self.template.data, context)
        for logical_id in resolved.active_of_type("AWS::Logs::LogGroup"):
            name = str(resolved.properties(logical_id)["LogGroupName"])
            # an earlier stack of this process may have made it (the same in-process moto)
            with contextlib.suppress(client.exceptions.ResourceAlreadyExistsException):
                client.create_log_group(logGroupName=name)
            names.append(name)
        return names

    def _functions(self, specs: list[FunctionSpec], context: ResolveContext) -> dict[str, Function]:
        if self.workers == "process":
            sizes = pool_sizes(self.template, specs, self.environ)
            return dict(process_functions(specs, context, sizes))
        lock = threading.Lock() if self.serialize_invocations else None
        # A function that calls the stack's own API (the canary) must not hold the lock the
        # API's invocation then waits for; it adds its metrics only once its calls are done.
        return {
            spec.logical_id: load_function(
                spec, context, None if API_URL_VARIABLE in spec.environment else lock
            )
            for spec in specs
        }

    def _start_pollers(self, context: ResolveContext) -> None:
        by_arn = {queue.arn: queue for queue in self.queues.values()}
        assert self.sqs is not None
        endpoint = self.sqs.endpoint_url
        for function_id, function in self.functions.items():
            source = self.template.sqs_event_source(function_id)
            if source is None or not source.enabled:
                continue
            arn = context.resolve_str(source.queue)
            if arn not in by_arn:
                raise ConfigurationError(f"{function_id}: event source queue {arn} is not local")
            poller = SqsPoller(
                function,
                source,
                by_arn[arn].url,
                arn,
                lambda: sqs_client(endpoint, context.region),
                context.region,
            )
            self.pollers.append(poller.start())

    def stop(self) -> None:
        """Stop everything that was started, pollers first."""
        for scheduler in self.schedulers:
            scheduler.stop()
        for poller in self.pollers:
            poller.stop()
        for function in self.functions.values():
            if isinstance(function, ProcessFunction):
                function.pool.stop()
        for component in (self.api, self.sandbox, self.sqs):
            if component is not None:
                try:
                    component.stop()
                except Exception as exc:  # keep stopping the others
                    print(f"local stack: stopping {component!r} failed: {exc}", file=sys.stderr)

    def ready_info(self) -> dict[str, Any]:
        """What the ready file contains."""
        assert self.api and self.sandbox and self.sqs
        return {
            "api": self.api.url,
            "sandbox": self.sandbox.url,
            "sqs_endpoint": self.sqs.endpoint_url,
            "queues": {logical_id: queue.url for logical_id, queue in self.queues.items()},
            "queue_arns": {logical_id: queue.arn for logical_id, queue in self.queues.items()},
            "tables": {logical_id: table.name for logical_id, table in self.tables.items()},
            "stage": self.api.stage,
            "api_kind": self.api.kind,
            "pid": os.getpid(),
        }

    def banner(self) -> str:
        """Human-readable summary of where everything listens (local/banner.py)."""
        return banner(self)


def write_ready_file(path: Path, info: Mapping[str, Any]) -> None:
    """Write the ready file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(info, indent=2), encoding="utf-8")
    partial.replace(path)


def main(argv: list[str] | None = None) -> int:
    """Start the stack, serve until SIGINT/SIGTERM, stop cleanly."""
    parser = argparse.ArgumentParser(prog="python -m local.run", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--api-port", type=int, default=3000)
    parser.add_argument("--sandbox-port", type=int, default=4010)
    parser.add_argument("--sqs-port", type=int, default=0, help="0 = a free port")
    parser.add_argument("--ready-file", type=Path, help="JSON with the URLs, written once ready")
    parser.add_argument("--template", type=Path, default=None, help="default: repo template.yaml")
    parser.add_argument(
        "--log-file",
        type=Path,
        help="also write the handlers' JSON lines here, stamped (local/logfile.py; ops/trace)",
    )
    parser.add_argument(
        "--workers",
        choices=MODES,
        default=os.environ.get("LOCAL_WORKERS") or "process",
        help="process (default; LOCAL_WORKERS): worker processes per function; inline: all here",
    )
    parser.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a template parameter's value (repeatable), e.g. ApiKind=http",
    )
    parser.add_argument(
        "--parallel-invocations",
        action="store_true",
        help="--workers inline only: let invocations overlap (default: one at a time)",
    )
    args = parser.parse_args(argv)
    parameters = {}
    for item in args.parameter:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--parameter takes NAME=VALUE, not {item!r}")
        parameters[name] = value
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    log = LogFile(args.log_file) if args.log_file is not None else None
    if log is not None:  # before any handler is loaded: their loggers keep the stream they find
        sys.stdout = Tee(sys.stdout, log)

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stack = LocalStack(
        Template.load(args.template),
        host=args.host,
        api_port=args.api_port,
        sandbox_port=args.sandbox_port,
        sqs_port=args.sqs_port,
        serialize_invocations=not args.parallel_invocations,
        workers=args.workers,
        parameters=parameters,
    )
    if args.ready_file is not None:
        args.ready_file.unlink(missing_ok=True)  # never leave a stale one around
    try:
        stack.start()
    except (ConfigurationError, TemplateError) as exc:
        print(f"local stack failed to start: {exc}", file=sys.stderr)
        stack.stop()
        return 1
    except Exception:
        traceback.print_exc(file=sys.stderr)
        print("local stack failed to start (see above)", file=sys.stderr)
        stack.stop()
        return 1
    try:
        if args.ready_file is not None:
            info = stack.ready_info()
            if log is not None:
                info["log_file"] = str(log.path.resolve())
            write_ready_file(args.ready_file, info)
        print(stack.banner(), file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
        print("local stack: stopping", file=sys.stderr, flush=True)
    finally:
        if args.ready_file is not None:
            args.ready_file.unlink(missing_ok=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
