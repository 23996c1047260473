"""The artifact that deploys (.aws-sam/build) is built for the architecture template.yaml names.

template.yaml's Globals Function Architectures (arm64: Graviton) is the one source: every
compiled module in the built layer and functions must be an ELF object for that machine
(read from the ELF header here, no `file`), and the host build (.aws-sam/host/build, which
test_artifact.py runs the handlers from) must differ from it in those modules only.

Where emulation is available (qemu-aarch64-static, Debian's qemu-user-static, and an aarch64
CPython 3.12 named by AARCH64_PYTHON312), each built handler is also imported from the
arm64 artifact, compiled modules included, under `qemu-aarch64-static PYTHON -I -S`.
On an aarch64 machine the host's own python3.12 does that without qemu.

Run by `make build-test` (REQUIRE_ARTIFACT=1); under a bare `pytest` the module skips while
either build is missing or older than the sources.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

from local.template import Template
from tests.packaging.builds import BUILD, HOST_BUILD, ROOT, not_built

FUNCTIONS = ("IngestFunction", "RetryFunction", "CanaryFunction", "AuditFunction")
RUNTIME = Path(os.environ.get("LAMBDA_RUNTIME") or ROOT / ".sam-venv" / "lambda-runtime").resolve()
# Lambda's architecture names -> ELF e_machine and the CPython extension suffix's machine
ELF_MACHINE = {"arm64": 183, "x86_64": 62}  # EM_AARCH64, EM_X86_64
SUFFIX_MACHINE = {"arm64": "aarch64", "x86_64": "x86_64"}
# the compiled modules the layer's wheels bring today (rpds-py, wrapt, charset-normalizer)
KNOWN_COMPILED = {"rpds/rpds", "wrapt/_wrappers", "charset_normalizer/md", "charset_normalizer/cd"}
_reason = not_built()
if _reason:
    if os.environ.get("REQUIRE_ARTIFACT") == "1":
        raise RuntimeError(_reason)
    pytest.skip(_reason, allow_module_level=True)


def architecture() -> str:
    """template.yaml's one architecture for every function, which the layer must match."""
    data = Template.load().data
    functions = data["Globals"]["Function"]["Architectures"]
    layer = data["Resources"]["CommonLayer"]
    assert len(functions) == 1, functions
    assert layer["Properties"]["CompatibleArchitectures"] == functions
    assert layer["Metadata"]["BuildArchitecture"] == functions[0]
    for name, resource in data["Resources"].items():  # none overrides the Globals
        if resource.get("Type") == "AWS::Serverless::Function":
            assert resource["Properties"].get("Architectures", functions) == functions, name
    return str(functions[0])


def elf_machine(path: Path) -> int | None:
    """e_machine of an ELF file (None if path is not ELF), from its 20-byte header."""
    with path.open("rb") as f:
        header = f.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    byteorder = "little" if header[5] == 1 else "big"  # EI_DATA: 1 = ELFDATA2LSB
    return int.from_bytes(header[18:20], byteorder)


def compiled_modules(build: Path) -> dict[str, int]:
    """Every ELF file in a build (any name, not only *.so): relative path -> e_machine."""
    found = {}
    for path in build.rglob("*"):
        if path.is_file() and not path.is_symlink() and (machine := elf_machine(path)):
            found[str(path.relative_to(build))] = machine
    return found


def _module_name(relative: str) -> str:
    """CommonLayer/python/rpds/rpds.cpython-312-aarch64-linux-gnu.so -> rpds/rpds."""
    return relative.removeprefix("CommonLayer/python/").split(".", 1)[0]


def _wrong_machine(build: Path, arch: str) -> dict[str, int]:
    return {p: m for p, m in compiled_modules(build).items() if m != ELF_MACHINE[arch]}


def test_every_compiled_module_of_the_artifact_is_built_for_the_template_architecture() -> None:
    arch = architecture()
    found = compiled_modules(BUILD)
    # not vacuous: the layer's known extension modules are all there, and nothing else is
    assert {_module_name(p) for p in found} >= KNOWN_COMPILED, sorted(found)
    assert all(p.startswith("CommonLayer/python/") for p in found), sorted(found)
    wrong = _wrong_machine(BUILD, arch)
    assert not wrong, f"not {arch} (e_machine {ELF_MACHINE[arch]}): {wrong}"
    # the names agree with the code: CPython looks for cpython-312-<machine>-linux-gnu.so
    suffix = f".cpython-312-{SUFFIX_MACHINE[arch]}-linux-gnu.so"
    assert all(p.endswith(suffix) or p.endswith(".abi3.so") for p in found), sorted(found)
    # and every wheel's tag names the machine (or none: pure Python)
    tags = {
        wheel.parent.name: [
            line.split(":", 1)[1].strip()
            for line in wheel.read_text().splitlines()
            if line.startswith("Tag:")
        ]
        for wheel in (BUILD / "CommonLayer" / "python").glob("*.dist-info/WHEEL")
    }
    assert tags
    for dist, dist_tags in tags.items():
        for tag in dist_tags:
            machine = tag.rsplit("-", 1)[1]
            assert machine == "any" or machine.endswith(SUFFIX_MACHINE[arch]), (dist, tag)


def test_the_check_catches_a_build_for_another_machine() -> None:
    """The host build has the same modules built for this machine: if that is not the
    template's architecture, the check above flags every one of them."""
    arch = architecture()
    host = compiled_modules(HOST_BUILD)
    assert {_module_name(p) for p in host} == {_module_name(p) for p in compiled_modules(BUILD)}
    host_arch = {"aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), platform.machine())
    if host_arch == arch:
        assert not _wrong_machine(HOST_BUILD, arch)
    else:
        assert set(_wrong_machine(HOST_BUILD, arch)) == set(host), host


def _comparable(build: Path) -> dict[str, bytes | None]:
    """A build's files by path, the machine dropped from extension names; content where it
    must match (not machine code, nor a wheel's RECORD, WHEEL and sboms/, which list the
    machine's files, tags and build). No bytecode: its co_filename is the build's path, and
    the handler runs write the functions' __pycache__ into the host build (test_artifact.py
    checks the artifact's layer bytecode)."""
    files: dict[str, bytes | None] = {}
    for path in build.rglob("*"):
        if not path.is_file() or path.suffix == ".pyc":
            continue
        relative = str(path.relative_to(build))
        for machine in SUFFIX_MACHINE.values():
            relative = relative.replace(f"-{machine}-linux-gnu.so", "-MACHINE-linux-gnu.so")
        skip = path.suffix == ".so" or path.name in ("RECORD", "WHEEL")
        skip = skip or (path.parent.name == "sboms" and path.parent.parent.suffix == ".dist-info")
        files[relative] = None if skip else path.read_bytes()
    return files


def test_the_host_build_differs_from_the_artifact_only_in_machine_code() -> None:
    """test_artifact.py runs the handlers from the host build: that proves the artifact only
    if both hold the same files, the same versions and the same code."""
    built, host = _comparable(BUILD), _comparable(HOST_BUILD)
    assert sorted(set(built) ^ set(host)) == []
    differ = sorted(p for p in built if built[p] != host[p])
    assert differ == [], differ[:10]


def _emulation() -> tuple[list[str], str]:
    """The command prefix that runs an aarch64 python3.12 here, or ([], why not)."""
    if platform.machine() in ("aarch64", "arm64"):
        python = os.environ.get("PYTHON312") or shutil.which("python3.12")
        return ([python], "") if python else ([], "no python3.12 on this aarch64 machine")
    qemu = shutil.which("qemu-aarch64-static") or shutil.which("qemu-aarch64")
    if not qemu:
        return [], "no qemu-aarch64-static: install qemu-user-static (apt-get install)"
    python = os.environ.get("AARCH64_PYTHON312", "")
    if not python or not Path(python).is_file():
        return [], (
            "no aarch64 python3.12: set AARCH64_PYTHON312 to an aarch64 CPython 3.12 "
            "(QEMU_LD_PREFIX to its libc's root if it is not static)"
        )
    return [qemu, python], ""


IMPORT_HANDLER = (
    "import sys, json; sys.path[:0] = sys.argv[1:4]; import platform, app; "
    "import rpds, wrapt._wrappers, charset_normalizer.md; "
    "from richpanel_destination.inbound.validate import validate_event; "
    "problems = [p.as_dict() for p in validate_event({'type': 'track', 'userId': 'u'})]; "
    "print(json.dumps([platform.machine(), app.__file__, rpds.__file__, problems]))"
)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_arm64_handlers_import_under_emulation(function: str) -> None:
    """The handler module, the layer's compiled modules and a refused event's explanation
    (jsonschema on rpds), in the arm64 artifact, on an aarch64 CPython."""
    if architecture() != "arm64":
        pytest.skip("template.yaml does not build for arm64")
    prefix, why_not = _emulation()
    if not prefix:
        pytest.skip(why_not)
    layer = BUILD / "CommonLayer" / "python"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "artifact-test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_EC2_METADATA_DISABLED": "true",
        **{k: v for k, v in os.environ.items() if k.startswith("QEMU_")},
    }
    # -B: nothing written into the artifact that deploys
    command = [*prefix, "-I", "-S", "-B", "-c", IMPORT_HANDLER, str(BUILD / function), str(layer)]
    done = subprocess.run(
        [*command, str(RUNTIME)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    machine, app_file, rpds_file, problems = json.loads(done.stdout.strip().splitlines()[-1])
    assert machine == "aarch64"
    assert app_file == str(BUILD / function / "app.py")
    assert rpds_file.startswith(str(layer))
    assert problems == [{"path": "/event", "message": "event is required"}]
