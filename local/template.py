"""Read template.yaml: typed views for the local runtime and an evaluated view for the tests.

Template reads the SAM template as written (functions with Globals merged, their events,
queues, tables); ResolvedTemplate evaluates any template (typically the SAM translator's output)
with one set of parameter values: which resources Conditions create and their resolved
properties. Both resolve intrinsics with local.intrinsics.ResolveContext.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from local.intrinsics import (
    LOCAL_ACCOUNT_ID,
    LOCAL_REGION,
    LOCAL_STACK_NAME,
    ResolveContext,
    TemplateError,
    UnresolvedError,
    referenced_ids,
)
from local.resolved import ResolvedTemplate
from local.sam import (
    API_EVENT_TYPES,
    DEFAULT_MEMORY_MB,
    DEFAULT_SQS_BATCH_SIZE,
    DEFAULT_TIMEOUT_SECONDS,
    FUNCTION_TYPE,
    IMPLICIT_API_STAGE,
    IMPLICIT_HTTP_API_STAGE,
    LAYER_TYPE,
    QUEUE_TYPE,
    TABLE_TYPE,
    ActiveApi,
    ApiRoute,
    FunctionSpec,
    SqsEventSource,
    load_yaml,
    translate,
)

__all__ = [  # what other modules import from here
    "LOCAL_ACCOUNT_ID",
    "LOCAL_REGION",
    "LOCAL_STACK_NAME",
    "ActiveApi",
    "ApiRoute",
    "FunctionSpec",
    "ResolveContext",
    "ResolvedTemplate",
    "SqsEventSource",
    "Template",
    "TemplateError",
    "UnresolvedError",
    "load_yaml",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = REPO_ROOT / "template.yaml"


def _true(value: Any) -> bool:
    """A CloudFormation boolean (True, "true") as Python's."""
    return value is True or str(value).lower() == "true"


class Template:
    """A parsed SAM template with helpers for the local runtime."""

    def __init__(self, data: Mapping[str, Any], base_dir: Path) -> None:
        """Wrap parsed template data; relative paths resolve against base_dir."""
        if not isinstance(data, Mapping) or not isinstance(data.get("Resources"), Mapping):
            raise TemplateError("template has no Resources mapping")
        self.data = data
        self.base_dir = base_dir

    @classmethod
    def load(cls, path: Path | str | None = None) -> Template:
        """Load template.yaml (the repository's by default)."""
        template_path = Path(path) if path is not None else TEMPLATE_PATH
        data = load_yaml(template_path.read_text(encoding="utf-8"))
        return cls(data, template_path.resolve().parent)

    def translated(self, parameters: Mapping[str, Any], region: str = LOCAL_REGION) -> Template:
        """The CloudFormation the SAM translator makes of this template with these values."""
        return Template(translate(self.data, parameters, region), self.base_dir)

    # -- raw sections

    @property
    def parameters(self) -> Mapping[str, Mapping[str, Any]]:
        """The Parameters section."""
        return self.data.get("Parameters") or {}

    @property
    def resources(self) -> Mapping[str, Mapping[str, Any]]:
        """The Resources section."""
        resources: Mapping[str, Mapping[str, Any]] = self.data["Resources"]
        return resources

    @property
    def function_globals(self) -> Mapping[str, Any]:
        """Globals.Function."""
        return (self.data.get("Globals") or {}).get("Function") or {}

    def resources_of_type(self, resource_type: str) -> dict[str, Mapping[str, Any]]:
        """Logical id -> resource, for resources of one type (template order)."""
        return {
            logical_id: resource
            for logical_id, resource in self.resources.items()
            if resource.get("Type") == resource_type
        }

    def properties(self, logical_id: str) -> Mapping[str, Any]:
        """Properties of one resource."""
        try:
            return self.resources[logical_id].get("Properties") or {}
        except KeyError:
            raise TemplateError(f"no resource {logical_id!r} in the template") from None

    # -- parameters and context

    def parameter_defaults(self) -> dict[str, str]:
        """Parameter name -> Default (parameters without a Default are left out)."""
        return {
            name: str(spec["Default"])
            for name, spec in self.parameters.items()
            if "Default" in spec and spec["Default"] is not None
        }

    def no_echo_parameters(self) -> set[str]:
        """Names of NoEcho (secret) parameters."""
        return {name for name, spec in self.parameters.items() if spec.get("NoEcho")}

    def parameters_referenced_by(self, value: Any) -> set[str]:
        """Parameter names that value refers to."""
        return referenced_ids(value) & set(self.parameters)

    def context(self, parameters: Mapping[str, str] | None = None, **kwargs: Any) -> ResolveContext:
        """A resolve context: parameter defaults overlaid with parameters."""
        values = self.parameter_defaults()
        values.update(parameters or {})
        for name, spec in self.parameters.items():
            allowed = spec.get("AllowedValues")
            if name in values and allowed and values[name] not in [str(a) for a in allowed]:
                raise TemplateError(f"parameter {name}={values[name]!r} not in {allowed}")
        return ResolveContext(
            parameters=values,
            conditions=self.data.get("Conditions") or {},
            mappings=self.data.get("Mappings") or {},
            list_parameters={
                name
                for name, spec in self.parameters.items()
                if spec.get("Type") == "CommaDelimitedList"
            },
            **kwargs,
        )

    def resolved(
        self, parameters: Mapping[str, str] | None = None, placeholders: bool = False, **kwargs: Any
    ) -> ResolvedTemplate:
        """This template evaluated with parameters (see context()).

        placeholders: Ref and GetAtt of resources give ``<Id>`` and ``<Id.Attribute>``.
        """
        if placeholders:
            kwargs["placeholders"] = frozenset(self.resources)
        return ResolvedTemplate(self.data, self.context(parameters, **kwargs))

    # -- API

    def declared_apis(self) -> dict[ActiveApi, list[ApiRoute]]:
        """Every API the functions' Api/HttpApi events attach to, with its routes."""
        apis: dict[ActiveApi, list[ApiRoute]] = {}
        for function_id in self.resources_of_type(FUNCTION_TYPE):
            for event_id, event in self._events(function_id).items():
                if event.get("Type") not in API_EVENT_TYPES:
                    continue
                kind, id_property = API_EVENT_TYPES[event["Type"]]
                props = event.get("Properties") or {}
                if "Path" not in props or "Method" not in props:
                    raise TemplateError(f"{function_id}.{event_id}: API event without Path/Method")
                ids = referenced_ids(props[id_property]) if id_property in props else {""}
                if len(ids) != 1:
                    raise TemplateError(f"{function_id}.{event_id}: {id_property} is not one Ref")
                route = ApiRoute(str(props["Method"]).upper(), props["Path"], function_id)
                apis.setdefault(ActiveApi(kind, next(iter(ids))), []).append(route)
        return apis

    def active_api(self, context: ResolveContext | None = None) -> ActiveApi | None:
        """The API that answers with these parameters: the one whose endpoint is not disabled.

        Both APIs may be declared (ApiKind chooses); the other's DisableExecuteApiEndpoint
        resolves true. None when no function has API events.
        """
        context = context or self.context()
        enabled = [api for api in self.declared_apis() if not self._disabled(api, context)]
        if len(enabled) > 1:
            raise TemplateError(f"several APIs have an enabled endpoint: {sorted(enabled)}")
        if not enabled and self.declared_apis():
            raise TemplateError("every API's execute-api endpoint is disabled")
        return enabled[0] if enabled else None

    def api_routes(self, context: ResolveContext | None = None) -> list[ApiRoute]:
        """The active API's routes as (METHOD, path, function id) (see active_api)."""
        api = self.active_api(context)
        return list(self.declared_apis()[api]) if api is not None else []

    def api_stage_name(self, context: ResolveContext) -> str:
        """Stage of the active API (SAM's implicit APIs use Prod and $default)."""
        api = self.active_api(context)
        if api is None or not api.api_id:
            return IMPLICIT_HTTP_API_STAGE if api and api.kind == "http" else IMPLICIT_API_STAGE
        default = IMPLICIT_HTTP_API_STAGE if api.kind == "http" else IMPLICIT_API_STAGE
        return context.resolve_str(self.properties(api.api_id).get("StageName", default))

    def gateway_responses(self, context: ResolveContext) -> dict[str, dict[str, str]]:
        """The active REST API's GatewayResponses: response type -> header -> mapping value
        (``'static'`` or ``method.request.header.Name``), resolved; {} for an HTTP API.

        An HTTP API's CorsConfiguration is not emulated: refused rather than served wrong.
        """
        api = self.active_api(context)
        if api is None or not api.api_id:
            return {}
        props = self.properties(api.api_id)
        if api.kind == "http":
            if context.resolve(props.get("CorsConfiguration")) not in (None, False):
                raise TemplateError(f"{api.api_id}: CorsConfiguration is not emulated locally")
            return {}
        responses = context.resolve(props.get("GatewayResponses")) or {}
        return {
            str(kind): {
                str(name): str(value)
                for name, value in (
                    (spec.get("ResponseParameters") or {}).get("Headers") or {}
                ).items()
            }
            for kind, spec in responses.items()
        }

    # -- functions

    def function_ids(self) -> list[str]:
        """Logical ids of the AWS::Serverless::Function resources."""
        return list(self.resources_of_type(FUNCTION_TYPE))

    def function_spec(self, logical_id: str) -> FunctionSpec:
        """The function's settings with Globals.Function merged (function values win)."""
        if self.resources.get(logical_id, {}).get("Type") != FUNCTION_TYPE:
            raise TemplateError(f"{logical_id!r} is not an {FUNCTION_TYPE}")
        glob = self.function_globals
        props = self.properties(logical_id)

        def setting(name: str, default: Any) -> Any:
            return props.get(name, glob.get(name, default))

        code_uri = setting("CodeUri", None)
        if not isinstance(code_uri, str):
            raise TemplateError(f"{logical_id}: CodeUri must be a local path, got {code_uri!r}")
        handler = setting("Handler", None)
        if not isinstance(handler, str):
            raise TemplateError(f"{logical_id}: Handler missing")
        environment: dict[str, Any] = {}
        for source in (glob, props):
            environment.update(((source.get("Environment") or {}).get("Variables")) or {})
        layers = list(glob.get("Layers") or []) + list(props.get("Layers") or [])
        return FunctionSpec(
            logical_id=logical_id,
            code_uri=(self.base_dir / code_uri).resolve(),
            handler=handler,
            runtime=setting("Runtime", None),
            timeout=int(setting("Timeout", DEFAULT_TIMEOUT_SECONDS)),
            memory_size=int(setting("MemorySize", DEFAULT_MEMORY_MB)),
            environment=environment,
            layer_dirs=tuple(self._layer_dirs(logical_id, layers)),
            function_name=props.get("FunctionName"),
            events=self._events(logical_id),
            condition=self.resources[logical_id].get("Condition"),
        )

    def functions(self) -> dict[str, FunctionSpec]:
        """Logical id -> FunctionSpec for every function."""
        return {logical_id: self.function_spec(logical_id) for logical_id in self.function_ids()}

    def sqs_event_sources(self, function_id: str) -> list[SqsEventSource]:
        """The function's SQS events."""
        sources: list[SqsEventSource] = []
        for event_id, event in self._events(function_id).items():
            if event.get("Type") != "SQS":
                continue
            props = event.get("Properties") or {}
            if "Queue" not in props:
                raise TemplateError(f"{function_id}.{event_id}: SQS event without Queue")
            scaling = props.get("ScalingConfig") or {}
            max_concurrency = scaling.get("MaximumConcurrency")
            sources.append(
                SqsEventSource(
                    event_id=event_id,
                    queue=props["Queue"],
                    batch_size=int(props.get("BatchSize", DEFAULT_SQS_BATCH_SIZE)),
                    maximum_batching_window_seconds=float(
                        props.get("MaximumBatchingWindowInSeconds", 0)
                    ),
                    function_response_types=tuple(props.get("FunctionResponseTypes") or ()),
                    maximum_concurrency=int(max_concurrency) if max_concurrency else None,
                    enabled=bool(props.get("Enabled", True)),
                )
            )
        return sources

    def sqs_event_source(self, function_id: str) -> SqsEventSource | None:
        """The function's single SQS event, or None (error if it has several)."""
        sources = self.sqs_event_sources(function_id)
        if len(sources) > 1:
            raise TemplateError(f"{function_id} has {len(sources)} SQS events")
        return sources[0] if sources else None

    # -- queues

    def queues(self) -> dict[str, Mapping[str, Any]]:
        """Logical id -> Properties of every AWS::SQS::Queue."""
        return {
            logical_id: resource.get("Properties") or {}
            for logical_id, resource in self.resources_of_type(QUEUE_TYPE).items()
        }

    def queue_name(self, logical_id: str, context: ResolveContext) -> str:
        """Resolved QueueName (CloudFormation would generate one; locally stack-logicalid)."""
        props = self.properties(logical_id)
        if "QueueName" in props:
            return context.resolve_str(props["QueueName"])
        suffix = ".fifo" if str(props.get("FifoQueue", "")).lower() == "true" else ""
        return f"{context.stack_name}-{logical_id}{suffix}"

    def queue_creation_order(self) -> list[str]:
        """Queue logical ids ordered so that every queue comes after the queues it refers to."""
        queues = self.queues()
        deps = {
            logical_id: (referenced_ids(props) | self._depends_on(logical_id)) & set(queues)
            for logical_id, props in queues.items()
        }
        order: list[str] = []
        visiting: set[str] = set()

        def visit(logical_id: str) -> None:
            if logical_id in order:
                return
            if logical_id in visiting:
                raise TemplateError(f"queue dependency cycle through {logical_id}")
            visiting.add(logical_id)
            for dep in sorted(deps[logical_id] - {logical_id}):
                visit(dep)
            visiting.discard(logical_id)
            order.append(logical_id)

        for logical_id in queues:
            visit(logical_id)
        return order

    # -- tables

    def tables(self) -> dict[str, Mapping[str, Any]]:
        """Logical id -> Properties of every AWS::DynamoDB::Table."""
        return {
            logical_id: resource.get("Properties") or {}
            for logical_id, resource in self.resources_of_type(TABLE_TYPE).items()
        }

    def table_name(self, logical_id: str, context: ResolveContext) -> str:
        """Resolved TableName (CloudFormation would generate one; locally stack-logicalid)."""
        props = self.properties(logical_id)
        if "TableName" in props:
            return context.resolve_str(props["TableName"])
        return f"{context.stack_name}-{logical_id}"

    # -- internals

    def _disabled(self, api: ActiveApi, context: ResolveContext) -> bool:
        """Whether the API's DisableExecuteApiEndpoint resolves true (implicit APIs: never)."""
        if not api.api_id:
            return False
        return _true(context.resolve(self.properties(api.api_id).get("DisableExecuteApiEndpoint")))

    def _events(self, function_id: str) -> Mapping[str, Mapping[str, Any]]:
        return self.properties(function_id).get("Events") or {}

    def _depends_on(self, logical_id: str) -> set[str]:
        depends = self.resources[logical_id].get("DependsOn") or []
        return {depends} if isinstance(depends, str) else set(depends)

    def _layer_dirs(self, function_id: str, layers: Iterable[Any]) -> list[Path]:
        dirs: list[Path] = []
        for layer in layers:
            ids = referenced_ids(layer)
            if len(ids) != 1 or self.resources.get(next(iter(ids)), {}).get("Type") != LAYER_TYPE:
                raise TemplateError(f"{function_id}: layer {layer!r} is not a local LayerVersion")
            content_uri = self.properties(next(iter(ids))).get("ContentUri")
            if not isinstance(content_uri, str):
                raise TemplateError(f"{function_id}: layer ContentUri must be a local path")
            dirs.append((self.base_dir / content_uri).resolve())
        return dirs
