"""Read template.yaml: CloudFormation short tags, a small intrinsic resolver, typed views."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = REPO_ROOT / "template.yaml"

LOCAL_STACK_NAME = "richpanel-destination-local"
LOCAL_REGION = "us-east-1"
LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account

FUNCTION_TYPE = "AWS::Serverless::Function"
LAYER_TYPE = "AWS::Serverless::LayerVersion"
API_TYPE = "AWS::Serverless::Api"
QUEUE_TYPE = "AWS::SQS::Queue"
TABLE_TYPE = "AWS::DynamoDB::Table"

# SAM's defaults when neither the function nor Globals set them.
DEFAULT_TIMEOUT_SECONDS = 3
DEFAULT_MEMORY_MB = 128
DEFAULT_SQS_BATCH_SIZE = 10
IMPLICIT_API_STAGE = "Prod"


class TemplateError(Exception):
    """The template has a shape this local runtime cannot handle."""


class UnresolvedError(TemplateError):
    """An intrinsic function refers to something the context does not know."""


# --------------------------------------------------------------------------- loading


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short tags into their long (JSON) form."""


def _construct_cfn_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    """Build {"Ref": x} / {"Fn::Name": x} from a `!Name x` node."""
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - PyYAML has only these three node kinds
        raise TemplateError(f"unsupported node for !{suffix}")
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_cfn_tag)


def load_yaml(text: str) -> Any:
    """Parse CloudFormation YAML text."""
    return yaml.load(text, Loader=CfnLoader)


# --------------------------------------------------------------------------- resolving

_NO_VALUE = object()
_SUB_PATTERN = re.compile(r"\$\{([^}]*)\}")


@dataclass
class ResolveContext:
    """Values intrinsic functions resolve against."""

    parameters: dict[str, str] = field(default_factory=dict)
    stack_name: str = LOCAL_STACK_NAME
    region: str = LOCAL_REGION
    account_id: str = LOCAL_ACCOUNT_ID
    partition: str = "aws"
    url_suffix: str = "amazonaws.com"
    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    conditions: Mapping[str, Any] = field(default_factory=dict)
    mappings: Mapping[str, Any] = field(default_factory=dict)

    def pseudo_parameters(self) -> dict[str, str]:
        """The AWS:: pseudo parameters."""
        stack_id = (
            f"arn:{self.partition}:cloudformation:{self.region}:{self.account_id}:"
            f"stack/{self.stack_name}/00000000-0000-0000-0000-000000000000"
        )
        return {
            "AWS::StackName": self.stack_name,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": self.url_suffix,
            "AWS::StackId": stack_id,
        }

    def ref(self, name: str) -> Any:
        """Value of Ref name."""
        if name == "AWS::NoValue":
            return _NO_VALUE
        pseudo = self.pseudo_parameters()
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.refs:
            return self.refs[name]
        raise UnresolvedError(f"cannot resolve Ref {name!r}")

    def get_att(self, resource: str, attribute: str) -> str:
        """Value of Fn::GetAtt resource.attribute."""
        try:
            return self.attributes[resource][attribute]
        except KeyError:
            raise UnresolvedError(f"cannot resolve GetAtt {resource}.{attribute}") from None

    def resolve(self, value: Any) -> Any:
        """Resolve intrinsic functions in value, recursively."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            key, arg = next(iter(value.items()))
            if key == "Ref":
                return self.ref(str(arg))
            if key.startswith("Fn::"):
                return self._function(key, arg)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def resolve_str(self, value: Any) -> str:
        """Resolve value and render it the way CloudFormation passes scalars on."""
        resolved = self.resolve(value)
        if isinstance(resolved, bool):
            return "true" if resolved else "false"
        if isinstance(resolved, (str, int, float)):
            return str(resolved)
        raise TemplateError(f"expected a scalar, got {resolved!r}")

    def condition(self, name: str) -> bool:
        """Evaluate a named condition."""
        if name not in self.conditions:
            raise UnresolvedError(f"unknown condition {name!r}")
        return bool(self._condition_value(self.conditions[name]))

    def _condition_value(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            key, arg = next(iter(value.items()))
            if key == "Condition":
                return self.condition(str(arg))
            if key == "Fn::Equals":
                left, right = (self.resolve_str(item) for item in arg)
                return left == right
            if key == "Fn::And":
                return all(self._condition_value(item) for item in arg)
            if key == "Fn::Or":
                return any(self._condition_value(item) for item in arg)
            if key == "Fn::Not":
                return not self._condition_value(arg[0])
        return self.resolve(value)

    def _function(self, name: str, arg: Any) -> Any:
        if name == "Fn::GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else list(arg)
            if len(parts) != 2:
                raise TemplateError(f"malformed Fn::GetAtt {arg!r}")
            return self.get_att(str(self.resolve(parts[0])), str(self.resolve(parts[1])))
        if name == "Fn::Sub":
            return self._sub(arg)
        if name == "Fn::Join":
            delimiter, items = arg
            return str(delimiter).join(self.resolve_str(item) for item in self.resolve(items))
        if name == "Fn::Select":
            index, items = arg
            return self.resolve(items)[int(self.resolve(index))]
        if name == "Fn::Split":
            delimiter, text = arg
            return self.resolve_str(text).split(str(delimiter))
        if name == "Fn::If":
            condition, when_true, when_false = arg
            return self.resolve(when_true if self.condition(str(condition)) else when_false)
        if name in ("Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not"):
            return self._condition_value({name: arg})
        if name == "Fn::Base64":
            return base64.b64encode(self.resolve_str(arg).encode()).decode()
        if name == "Fn::FindInMap":
            map_name, top_key, second_key = (self.resolve_str(item) for item in arg)
            try:
                return self.mappings[map_name][top_key][second_key]
            except KeyError:
                raise UnresolvedError(f"cannot resolve FindInMap {arg!r}") from None
        if name == "Fn::GetAZs":
            return [f"{self.region}{zone}" for zone in "abc"]
        raise UnresolvedError(f"{name} is not supported locally")

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, str):
            text, variables = arg, {}
        else:
            text, raw_variables = arg
            variables = {key: self.resolve(item) for key, item in raw_variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return self.get_att(resource, attribute)
            value = self.ref(name)
            if value is _NO_VALUE:
                return ""
            return str(value)

        return _SUB_PATTERN.sub(replace, text)


def referenced_ids(value: Any) -> set[str]:
    """Logical ids / parameter names mentioned by Ref, GetAtt or Sub anywhere in value."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= referenced_ids(item)
    elif isinstance(value, dict):
        if len(value) == 1:
            key, arg = next(iter(value.items()))
            if key == "Ref" and isinstance(arg, str):
                return {arg}
            if key == "Fn::GetAtt":
                first = arg.split(".", 1)[0] if isinstance(arg, str) else arg[0]
                return {first} if isinstance(first, str) else referenced_ids(first)
            if key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                local_names = set(arg[1]) if not isinstance(arg, str) else set()
                for name in _SUB_PATTERN.findall(text):
                    name = name.strip()
                    if name.startswith("!") or name in local_names:
                        continue
                    found.add(name.split(".", 1)[0] if not name.startswith("AWS::") else name)
                if not isinstance(arg, str):
                    found |= referenced_ids(arg[1])
                return found
        for item in value.values():
            found |= referenced_ids(item)
    return found


# --------------------------------------------------------------------------- typed views


class ApiRoute(NamedTuple):
    """One API event of a function: (METHOD, path, function logical id)."""

    method: str
    path: str
    function_id: str


@dataclass(frozen=True)
class FunctionSpec:
    """An AWS::Serverless::Function with Globals.Function merged in (values unresolved)."""

    logical_id: str
    code_uri: Path
    handler: str
    runtime: str | None
    timeout: int
    memory_size: int
    environment: Mapping[str, Any]
    layer_dirs: tuple[Path, ...]
    function_name: Any
    events: Mapping[str, Any]


@dataclass(frozen=True)
class SqsEventSource:
    """An SQS event of a function (Lambda event source mapping settings)."""

    event_id: str
    queue: Any
    batch_size: int
    maximum_batching_window_seconds: float
    function_response_types: tuple[str, ...]
    maximum_concurrency: int | None
    enabled: bool

    @property
    def reports_batch_item_failures(self) -> bool:
        """Whether the function answers with batchItemFailures."""
        return "ReportBatchItemFailures" in self.function_response_types

    @property
    def queue_logical_id(self) -> str | None:
        """Logical id of the queue when Queue is a GetAtt/Ref of a template resource."""
        ids = referenced_ids(self.queue)
        return next(iter(ids)) if len(ids) == 1 else None


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
            **kwargs,
        )

    # -- API

    def api_routes(self) -> list[ApiRoute]:
        """Every Api event of every function as (METHOD, path, function id)."""
        routes: list[ApiRoute] = []
        for function_id in self.resources_of_type(FUNCTION_TYPE):
            for event in self._events(function_id).values():
                if event.get("Type") != "Api":
                    continue
                props = event.get("Properties") or {}
                if "Path" not in props or "Method" not in props:
                    raise TemplateError(f"{function_id}: Api event without Path/Method")
                routes.append(ApiRoute(str(props["Method"]).upper(), props["Path"], function_id))
        return routes

    def api_stage_name(self, context: ResolveContext) -> str:
        """Stage of the API the Api events attach to (SAM's implicit API uses Prod)."""
        api_ids: set[str] = set()
        for function_id in self.resources_of_type(FUNCTION_TYPE):
            for event in self._events(function_id).values():
                if event.get("Type") == "Api":
                    rest_api = (event.get("Properties") or {}).get("RestApiId")
                    api_ids |= referenced_ids(rest_api) if rest_api is not None else {""}
        if len(api_ids) > 1:
            raise TemplateError(f"Api events attach to several APIs: {sorted(api_ids)}")
        api_id = next(iter(api_ids), "")
        if not api_id:
            return IMPLICIT_API_STAGE
        return context.resolve_str(self.properties(api_id).get("StageName", IMPLICIT_API_STAGE))

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
