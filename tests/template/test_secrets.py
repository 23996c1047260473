"""No plaintext secret in the template, its deployed environment, or samconfig.toml.

Credentials live in Secrets Manager; the template only carries their ARNs (docs/security.md).
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
# A name that suggests a credential (InboundAuth is a mode switch, not a credential).
CREDENTIAL_NAME = re.compile(r"(?i)(key|secret|token|password|passwd|credential)")
SECRET_ARN_PARAMETERS = {"RichpanelSecretArn", "InboundSecretArn"}
# Optional: empty by default (the canary's REST key; empty = no canary).
OPTIONAL_SECRET_ARN_PARAMETERS = {"RichpanelRestSecretArn"}
# Values that look like a credential rather than a setting, a URL, a name or an ARN.
CREDENTIAL_VALUE = [
    re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b"),  # AWS access key id
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\beyJ[\w-]{10,}\.[\w-]{10,}"),  # JWT
    re.compile(r"^(?=.*[0-9])(?=.*[A-Za-z])[A-Za-z0-9+/_=-]{24,}$"),  # a long random token
]


def looks_like_credential(value: Any) -> bool:
    return isinstance(value, str) and any(p.search(value) for p in CREDENTIAL_VALUE)


def referenced_names(value: Any) -> set[str]:
    """Parameter/resource names a value refers to through Ref, GetAtt or Sub."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= referenced_names(item)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref":
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else arg.split(".")[0])
            elif key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                found |= {name.split(".")[0] for name in re.findall(r"\$\{([^!][^}]*)\}", text)}
                if not isinstance(arg, str):
                    found |= referenced_names(arg[1])
            else:
                found |= referenced_names(arg)
    return found


def environments(cfn: Any) -> dict[str, dict[str, Any]]:
    """Function id -> its deployed environment variables (Globals merged by SAM), unevaluated."""
    return {
        function_id: resource["Properties"].get("Environment", {}).get("Variables", {})
        for function_id, resource in cfn.of_type("AWS::Lambda::Function").items()
    }


def test_only_the_secret_arns_are_credential_parameters(raw: dict[str, Any]) -> None:
    """A parameter named like a credential is a secret's ARN (no default) or a number setting."""
    credential_like = {name for name in raw["Parameters"] if CREDENTIAL_NAME.search(name)}
    assert credential_like >= SECRET_ARN_PARAMETERS | OPTIONAL_SECRET_ARN_PARAMETERS
    for name in credential_like - SECRET_ARN_PARAMETERS - OPTIONAL_SECRET_ARN_PARAMETERS:
        assert raw["Parameters"][name]["Type"] == "Number", f"{name} looks like a credential"
    for name in OPTIONAL_SECRET_ARN_PARAMETERS:
        spec = raw["Parameters"][name]
        assert (spec["Type"], spec["Default"]) == ("String", ""), name
        assert spec["AllowedPattern"].startswith("^$|^arn:"), name
    for name in SECRET_ARN_PARAMETERS:
        spec = raw["Parameters"][name]
        assert spec["Type"] == "String"
        assert "Default" not in spec, f"{name}: a default would be one account's secret"
        assert spec["AllowedPattern"].startswith("^arn:")


def test_a_pasted_credential_is_refused_by_the_secret_arn_patterns(raw: dict[str, Any]) -> None:
    """CloudFormation rejects a key pasted where the secret's ARN belongs."""
    for name in SECRET_ARN_PARAMETERS | OPTIONAL_SECRET_ARN_PARAMETERS:
        pattern = raw["Parameters"][name]["AllowedPattern"]
        arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:richpanel-AbCdEf"
        assert re.fullmatch(pattern, arn)
        for pasted in ("3f8a9c0d2b7e4f61a5c8d9e0f1a2b3c4", "sk_live_abc123", "writekey:"):
            assert not re.fullmatch(pattern, pasted), (name, pasted)


def test_no_parameter_default_looks_like_a_credential(raw: dict[str, Any]) -> None:
    for name, spec in raw["Parameters"].items():
        assert not looks_like_credential(str(spec.get("Default", ""))), name


def test_no_echo_parameters_never_reach_an_environment(cfn: Any, raw: dict[str, Any]) -> None:
    """A NoEcho value in an environment variable is plaintext in the function's configuration."""
    no_echo = {name for name, spec in raw["Parameters"].items() if spec.get("NoEcho")}
    for function_id, variables in environments(cfn).items():
        for variable, value in variables.items():
            leaked = referenced_names(value) & no_echo
            assert not leaked, f"{function_id}.{variable} carries NoEcho {sorted(leaked)}"


def test_secret_named_variables_hold_only_secret_arns(cfn: Any, raw: dict[str, Any]) -> None:
    """KEY/SECRET/TOKEN/PASSWORD variables hold a *SecretArn Ref, or a number (a cache age)."""
    name_pattern = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|CREDENTIAL")
    numbers = {name for name, spec in raw["Parameters"].items() if spec["Type"] == "Number"}
    seen = set()
    for function_id, variables in environments(cfn).items():
        for variable, value in variables.items():
            if not name_pattern.search(variable):
                continue
            where = (function_id, variable, value)
            seen.add(variable)
            if isinstance(value, str):
                assert value.isdigit(), where
                continue
            assert isinstance(value, dict) and set(value) == {"Ref"}, where
            if variable.endswith("_ARN"):
                if value["Ref"] in OPTIONAL_SECRET_ARN_PARAMETERS:
                    assert cfn.resolve(value) == "" or cfn.resolve(value).startswith(
                        "arn:aws:secretsmanager:"
                    ), where
                    continue
                assert value["Ref"] in SECRET_ARN_PARAMETERS, where
                assert cfn.resolve(value).startswith("arn:aws:secretsmanager:"), where
            else:
                assert value["Ref"] in numbers, where
    assert {"RICHPANEL_SECRET_ARN", "INBOUND_SECRET_ARN"} <= seen


def test_no_environment_literal_looks_like_a_credential(cfn: Any) -> None:
    for function_id, variables in environments(cfn).items():
        for variable, value in variables.items():
            assert not looks_like_credential(value), f"{function_id}.{variable}"


def test_samconfig_overrides_carry_no_credentials(raw: dict[str, Any]) -> None:
    """parameter_overrides name template parameters only, and never a credential in clear."""
    samconfig = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    parameters = set(raw["Parameters"])
    checked = 0
    for environment, commands in samconfig.items():
        if not isinstance(commands, dict):
            continue
        for command, table in commands.items():
            overrides = table.get("parameters", {}).get("parameter_overrides")
            if overrides is None:
                continue
            items = overrides if isinstance(overrides, list) else shlex.split(overrides)
            for item in items:
                name, _, value = item.partition("=")
                where = f"[{environment}.{command}] {name}"
                assert name in parameters, f"{where} is not a template parameter"
                assert not CREDENTIAL_NAME.search(name) or name in SECRET_ARN_PARAMETERS, where
                assert not looks_like_credential(value), where
                checked += 1
    assert checked, "samconfig.toml has no parameter_overrides to check"


def test_no_string_in_the_template_looks_like_a_credential(raw: dict[str, Any]) -> None:
    """Belt and braces over every string value in template.yaml (YAML comments aside)."""

    def strings(value: Any) -> list[str]:
        if isinstance(value, str):
            return [value]
        if isinstance(value, list):
            return [s for item in value for s in strings(item)]
        if isinstance(value, dict):
            return [s for item in value.values() for s in strings(item)]
        return []

    suspicious = [s for s in strings(raw) if looks_like_credential(s)]
    assert suspicious == []
