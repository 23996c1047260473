"""template.yaml translated offline by the SAM translator, with a small intrinsic evaluator.

No network and no AWS account: the translator gets a boto3 session with a fixed region (it
only reads the region name) and an empty managed-policy map (SAM names the managed policies it
adds by ARN). Parameter values that the template leaves without a default are supplied here.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.utils.py27hash_fix import (
    to_py27_compatible_template,
    undo_mark_unicode_str_in_template,
)
from samtranslator.yaml_helper import yaml_parse

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
STACK_NAME = "richpanel-destination"
RICHPANEL_SECRET_ARN = (
    f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:richpanel-destination/richpanel-AbCdEf"
)
INBOUND_SECRET_ARN = (
    f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:richpanel-destination/inbound-GhIjKl"
)
REQUIRED_PARAMETERS = {
    "RichpanelSecretArn": RICHPANEL_SECRET_ARN,
    "InboundSecretArn": INBOUND_SECRET_ARN,
}

NO_VALUE = object()
_SUB = re.compile(r"\$\{([^}]*)\}")


def raw_template() -> dict[str, Any]:
    """template.yaml as written (short tags in their long form)."""
    parsed: dict[str, Any] = yaml_parse(TEMPLATE_PATH.read_text(encoding="utf-8"))
    return parsed


def translate(parameters: Mapping[str, str]) -> dict[str, Any]:
    """The plain CloudFormation `sam deploy` would submit for these parameter values."""
    template = raw_template()
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):  # what `sam package` does to local paths
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://artifacts/{logical_id}.zip"
    values: dict[str, Any] = {**REQUIRED_PARAMETERS, **parameters}
    to_py27_compatible_template(template, values)
    translator = Translator({}, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    translated = translator.translate(
        template, parameter_values=values, get_managed_policy_map=lambda: {}
    )
    result: dict[str, Any] = undo_mark_unicode_str_in_template(translated)
    return result


class Cfn:
    """A translated template plus the parameter values it is evaluated with."""

    def __init__(self, template: dict[str, Any], parameters: Mapping[str, str]) -> None:
        self.template = template
        self.resources: dict[str, dict[str, Any]] = template["Resources"]
        self.conditions: dict[str, Any] = template.get("Conditions") or {}
        self.parameters: dict[str, Any] = {}
        given = {**REQUIRED_PARAMETERS, **parameters}
        for name, spec in (template.get("Parameters") or {}).items():
            if name in given:
                value = str(given[name])
            elif "Default" in spec:
                value = str(spec["Default"])
            else:
                raise AssertionError(f"parameter {name} has no default and no test value")
            if spec.get("Type") == "CommaDelimitedList":
                self.parameters[name] = value.split(",")
            else:
                self.parameters[name] = value

    # -- resources

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """Logical id -> resource for every resource of one type (whatever its condition)."""
        return {
            logical_id: resource
            for logical_id, resource in self.resources.items()
            if resource["Type"] == resource_type
        }

    def active(self, logical_id: str) -> bool:
        """Whether CloudFormation would create the resource with these parameters."""
        condition = self.resources[logical_id].get("Condition")
        return condition is None or self.condition(condition)

    def active_of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """Like of_type, created resources only."""
        resources = self.of_type(resource_type)
        return {key: value for key, value in resources.items() if self.active(key)}

    def properties(self, logical_id: str) -> dict[str, Any]:
        """The resource's Properties with intrinsics evaluated."""
        resolved = self.resolve(self.resources[logical_id].get("Properties") or {})
        assert isinstance(resolved, dict)
        return resolved

    # -- intrinsics

    def condition(self, name: str) -> bool:
        """A named condition's value."""
        return bool(self.condition_value(self.conditions[name]))

    def condition_value(self, value: Any) -> Any:
        """A condition expression's value (Fn::Equals/Not/And/Or, Condition, or any value)."""
        if isinstance(value, dict) and len(value) == 1:
            key, arg = next(iter(value.items()))
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Equals":
                left, right = (self.resolve(item) for item in arg)
                return left == right
            if key == "Fn::Not":
                return not self.condition_value(arg[0])
            if key == "Fn::And":
                return all(self.condition_value(item) for item in arg)
            if key == "Fn::Or":
                return any(self.condition_value(item) for item in arg)
        return self.resolve(value)

    def ref(self, name: str) -> Any:
        """Ref: parameters and pseudo parameters by value, resources as '<LogicalId>'."""
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::StackName": STACK_NAME,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            return f"<{name}>"
        raise AssertionError(f"Ref to unknown {name!r}")

    def resolve(self, value: Any) -> Any:
        """Evaluate intrinsics; GetAtt becomes '<LogicalId.Attribute>'."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            key, arg = next(iter(value.items()))
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
                assert logical_id in self.resources, f"GetAtt of unknown {logical_id}"
                return f"<{logical_id}.{attribute}>"
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                delimiter, items = arg
                return delimiter.join(str(item) for item in self.resolve(items))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                delimiter, text = arg
                return str(self.resolve(text)).split(delimiter)
            if key == "Fn::If":
                name, when_true, when_false = arg
                return self.resolve(when_true if self.condition(name) else when_false)
            if key in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"):
                return self.condition_value(value)
            assert not key.startswith("Fn::"), f"unsupported intrinsic {key}"
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        values = {name: self.resolve(item) for name, item in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in values:
                return str(values[name])
            if "." in name and not name.startswith("AWS::"):
                return str(self.resolve({"Fn::GetAtt": name.split(".", 1)}))
            return str(self.ref(name))

        return _SUB.sub(replace, text)


@pytest.fixture(scope="session")
def cfn_for() -> Callable[..., Cfn]:
    """cfn_for(**parameters) -> the translated template evaluated with those values (cached)."""
    cache: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}

    def build(**parameters: str) -> Cfn:
        key = tuple(sorted(parameters.items()))
        if key not in cache:
            cache[key] = translate(parameters)
        return Cfn(copy.deepcopy(cache[key]), parameters)

    return build


@pytest.fixture(scope="session")
def cfn(cfn_for: Callable[..., Cfn]) -> Cfn:
    """The template with default parameter values."""
    return cfn_for()


@pytest.fixture(scope="session")
def raw() -> dict[str, Any]:
    """template.yaml before the SAM transform."""
    return raw_template()
