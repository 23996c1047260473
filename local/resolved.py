"""A template evaluated with one set of parameter values, the way CloudFormation would."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from local.intrinsics import ResolveContext, TemplateError


class ResolvedTemplate:
    """Template data plus the context it is evaluated in: created resources, resolved values."""

    def __init__(self, data: Mapping[str, Any], context: ResolveContext) -> None:
        """Evaluate data (a parsed or translated template) against context."""
        self.template = data
        self.context = context
        self.resources: Mapping[str, Mapping[str, Any]] = data["Resources"]
        self.parameters = context.parameters

    def of_type(self, resource_type: str) -> dict[str, Mapping[str, Any]]:
        """Logical id -> resource for every resource of one type (whatever its Condition)."""
        return {
            logical_id: resource
            for logical_id, resource in self.resources.items()
            if resource["Type"] == resource_type
        }

    def active(self, logical_id: str) -> bool:
        """Whether CloudFormation would create the resource (its Condition holds)."""
        condition = self.resources[logical_id].get("Condition")
        return condition is None or self.context.condition(condition)

    def active_of_type(self, resource_type: str) -> dict[str, Mapping[str, Any]]:
        """Like of_type, created resources only."""
        resources = self.of_type(resource_type)
        return {key: value for key, value in resources.items() if self.active(key)}

    def properties(self, logical_id: str) -> dict[str, Any]:
        """The resource's Properties with intrinsics resolved."""
        resolved = self.resolve(self.resources[logical_id].get("Properties") or {})
        if not isinstance(resolved, dict):
            raise TemplateError(f"{logical_id}: Properties is not a mapping")
        return resolved

    def resolve(self, value: Any) -> Any:
        """value with intrinsics resolved."""
        return self.context.resolve(value)

    def ref(self, name: str) -> Any:
        """Value of Ref name."""
        return self.context.ref(name)

    def condition(self, name: str) -> bool:
        """A named condition's value."""
        return self.context.condition(name)

    def condition_value(self, value: Any) -> Any:
        """A condition expression's value (Rules' RuleCondition and Assert use these too)."""
        return self.context.condition_value(value)
