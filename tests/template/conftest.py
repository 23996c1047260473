"""template.yaml translated offline by the SAM translator and evaluated by local's evaluator.

local.sam.translate runs the translator (no network, no AWS account); local.template's
ResolvedTemplate evaluates the result: parameters, Conditions, intrinsics, with resources as
``<LogicalId>`` / ``<LogicalId.Attribute>`` placeholders. Parameter values that the template
leaves without a default are supplied here.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from local.template import ResolvedTemplate, Template, TemplateError

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


def raw_template() -> dict[str, Any]:
    """template.yaml as written (short tags in their long form)."""
    return dict(Template.load().data)


def evaluate(template: Template, **parameters: str) -> ResolvedTemplate:
    """The translated template evaluated with the test values overlaid with parameters."""
    values = {**REQUIRED_PARAMETERS, **parameters}
    missing = [
        name
        for name, spec in template.parameters.items()
        if name not in values and spec.get("Default") is None
    ]
    if missing:
        raise TemplateError(f"parameters {missing} have no default and no test value")
    return template.resolved(
        values, placeholders=True, stack_name=STACK_NAME, region=REGION, account_id=ACCOUNT_ID
    )


@pytest.fixture(scope="session")
def cfn_for() -> Callable[..., ResolvedTemplate]:
    """cfn_for(**parameters) -> the translated template evaluated with those values (cached)."""
    source = Template.load()
    cache: dict[tuple[tuple[str, str], ...], Template] = {}

    def build(**parameters: str) -> ResolvedTemplate:
        key = tuple(sorted(parameters.items()))
        if key not in cache:
            cache[key] = source.translated({**REQUIRED_PARAMETERS, **parameters}, REGION)
        translated = cache[key]
        return evaluate(Template(copy.deepcopy(translated.data), translated.base_dir), **parameters)

    return build


@pytest.fixture(scope="session")
def cfn(cfn_for: Callable[..., ResolvedTemplate]) -> ResolvedTemplate:
    """The template with default parameter values."""
    return cfn_for()


@pytest.fixture(scope="session")
def raw() -> dict[str, Any]:
    """template.yaml before the SAM transform."""
    return raw_template()
