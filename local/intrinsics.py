"""CloudFormation intrinsic functions and Conditions, evaluated against known values.

One evaluator for the local runtime (real queue URLs, ARNs) and the template tests (the SAM
translator's output, resources as ``<LogicalId>`` placeholders).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

LOCAL_STACK_NAME = "richpanel-destination-local"
LOCAL_REGION = "us-east-1"
LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account


class TemplateError(Exception):
    """The template has a shape this local runtime cannot handle."""


class UnresolvedError(TemplateError):
    """An intrinsic function refers to something the context does not know."""


NO_VALUE = object()  # what Ref AWS::NoValue resolves to before it is dropped
_SUB_PATTERN = re.compile(r"\$\{([^}]*)\}")


@dataclass
class ResolveContext:
    """Values intrinsic functions resolve against.

    list_parameters are CommaDelimitedList parameters (Ref gives a list); Ref and GetAtt of a
    placeholders id without a known value give ``<Id>`` and ``<Id.Attribute>``.
    """

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
    list_parameters: Collection[str] = frozenset()
    placeholders: Collection[str] = frozenset()

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
            return NO_VALUE
        pseudo = self.pseudo_parameters()
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            value = self.parameters[name]
            return value.split(",") if name in self.list_parameters else value
        if name in self.refs:
            return self.refs[name]
        if name in self.placeholders:
            return f"<{name}>"
        raise UnresolvedError(f"cannot resolve Ref {name!r}")

    def get_att(self, resource: str, attribute: str) -> str:
        """Value of Fn::GetAtt resource.attribute."""
        try:
            return self.attributes[resource][attribute]
        except KeyError:
            if resource in self.placeholders:
                return f"<{resource}.{attribute}>"
            raise UnresolvedError(f"cannot resolve GetAtt {resource}.{attribute}") from None

    def resolve(self, value: Any) -> Any:
        """Resolve intrinsic functions in value, recursively."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            key, arg = next(iter(value.items()))
            if key == "Ref":
                return self.ref(str(arg))
            if key.startswith("Fn::"):
                return self._function(key, arg)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

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
        return bool(self.condition_value(self.conditions[name]))

    def condition_value(self, value: Any) -> Any:
        """Value of a condition expression (Fn::Equals/And/Or/Not, Condition, or any value)."""
        if isinstance(value, dict) and len(value) == 1:
            key, arg = next(iter(value.items()))
            if key == "Condition":
                return self.condition(str(arg))
            if key == "Fn::Equals":
                left, right = (self.resolve_str(item) for item in arg)
                return left == right
            if key == "Fn::And":
                return all(self.condition_value(item) for item in arg)
            if key == "Fn::Or":
                return any(self.condition_value(item) for item in arg)
            if key == "Fn::Not":
                return not self.condition_value(arg[0])
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
            return self.condition_value({name: arg})
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
            if value is NO_VALUE:
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
