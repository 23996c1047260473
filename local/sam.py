"""SAM: parsing template.yaml, translating it to CloudFormation, the SAM shapes the runtime uses.

Parsing and translation are aws-sam-translator's (what ``sam`` itself runs), offline: the
translator gets a boto3 session with a fixed region (it only reads the region name) and an empty
managed-policy map (SAM names the managed policies it adds by ARN).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from samtranslator.yaml_helper import yaml_parse

from local.intrinsics import LOCAL_REGION, referenced_ids

FUNCTION_TYPE = "AWS::Serverless::Function"
LAYER_TYPE = "AWS::Serverless::LayerVersion"
API_TYPE = "AWS::Serverless::Api"
HTTP_API_TYPE = "AWS::Serverless::HttpApi"
QUEUE_TYPE = "AWS::SQS::Queue"
TABLE_TYPE = "AWS::DynamoDB::Table"

# SAM's defaults when neither the function nor Globals set them.
DEFAULT_TIMEOUT_SECONDS = 3
DEFAULT_MEMORY_MB = 128
DEFAULT_SQS_BATCH_SIZE = 10
IMPLICIT_API_STAGE = "Prod"
IMPLICIT_HTTP_API_STAGE = "$default"
# A function event's Type -> the API kind it attaches to, and the property naming that API.
REST, HTTP = "rest", "http"
API_EVENT_TYPES = {"Api": (REST, "RestApiId"), "HttpApi": (HTTP, "ApiId")}


def load_yaml(text: str) -> Any:
    """Parse CloudFormation YAML; short tags (``!Ref x``) become their long (JSON) form.

    This is the SAM translator's parser; it registers the ``!`` tags on yaml.SafeLoader.
    """
    return yaml_parse(text)


def translate(
    data: Mapping[str, Any], parameters: Mapping[str, Any], region: str = LOCAL_REGION
) -> dict[str, Any]:
    """The plain CloudFormation ``sam package`` + ``sam deploy`` would submit for data.

    Local CodeUri/ContentUri paths become S3 URIs, as ``sam package`` makes them.
    """
    # Imported here: the translator takes ~0.4 s to import and the runtime does not need it.
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator
    from samtranslator.utils.py27hash_fix import (
        to_py27_compatible_template,
        undo_mark_unicode_str_in_template,
    )

    template = copy.deepcopy(dict(data))
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://artifacts/{logical_id}.zip"
    values = dict(parameters)
    to_py27_compatible_template(template, values)
    translator = Translator({}, Parser(), boto_session=boto3.session.Session(region_name=region))
    translated = translator.translate(
        template, parameter_values=values, get_managed_policy_map=lambda: {}
    )
    result: dict[str, Any] = undo_mark_unicode_str_in_template(translated)
    return result


# --------------------------------------------------------------------------- SAM shapes


class ApiRoute(NamedTuple):
    """One API event of a function: (METHOD, path, function logical id)."""

    method: str
    path: str
    function_id: str


class ActiveApi(NamedTuple):
    """The API the local stack serves: its kind (rest or http), logical id ("" = implicit)."""

    kind: str
    api_id: str


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
    condition: str | None = None  # the resource's Condition: created only when it holds


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
