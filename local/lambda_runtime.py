"""Load Lambda handlers from CodeUri/Handler and invoke them with a fake context.

``LocalFunction`` runs a handler in this process ("inline" workers); local/workers.py runs
each function in worker processes of its own ("process" workers) with the same loader.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from local import logfile

if TYPE_CHECKING:  # the worker processes import this module: keep it light
    from local.template import FunctionSpec, ResolveContext

Handler = Callable[[Any, Any], Any]


class HandlerSource(Protocol):
    """What loading a handler needs of a function (FunctionSpec has it)."""

    @property
    def logical_id(self) -> str: ...
    @property
    def code_uri(self) -> Path: ...
    @property
    def handler(self) -> str: ...
    @property
    def layer_dirs(self) -> tuple[Path, ...]: ...


class Function(Protocol):
    """A function the API, pollers and schedulers invoke (inline or in worker processes)."""

    spec: FunctionSpec
    function_name: str
    function_arn: str

    def invoke(self, event: Any) -> Any:
        """Run one invocation; return the handler's result or raise its error."""
        ...


class LambdaContext:
    """Stand-in for the Lambda runtime's context object."""

    function_version = "$LATEST"
    identity = None
    client_context = None

    def __init__(
        self,
        function_name: str,
        invoked_function_arn: str,
        memory_limit_in_mb: int,
        timeout_seconds: float,
        aws_request_id: str | None = None,
    ) -> None:
        """Start the remaining-time clock at timeout_seconds."""
        self.function_name = function_name
        self.invoked_function_arn = invoked_function_arn
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = aws_request_id or str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        day = datetime.now(UTC).strftime("%Y/%m/%d")
        self.log_stream_name = f"{day}/[$LATEST]{uuid.uuid4().hex}"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the (not enforced) timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def add_layers_to_path(layer_dirs: tuple[Path, ...] | list[Path]) -> None:
    """Put layer content at the front of sys.path (a layer's python/ dir when it has one)."""
    for layer_dir in reversed(list(layer_dirs)):
        root = layer_dir / "python" if (layer_dir / "python").is_dir() else layer_dir
        entry = str(root)
        if entry in sys.path:
            sys.path.remove(entry)
        sys.path.insert(0, entry)


def load_handler(spec: HandlerSource) -> Handler:
    """Import the handler module of spec under a unique module name and return the handler.

    The function's layers go on sys.path first. The CodeUri directory is on sys.path only
    while the module executes; sibling modules it imports are then removed from
    sys.modules so another function's same-named modules do not collide.
    """
    module_file, _, attribute = spec.handler.rpartition(".")
    if not module_file or not attribute:
        raise ValueError(
            f"{spec.logical_id}: Handler must be module.function, not {spec.handler!r}"
        )
    path = spec.code_uri / (module_file.replace(".", "/") + ".py")
    if not path.is_file():
        raise FileNotFoundError(f"{spec.logical_id}: handler module {path} not found")
    add_layers_to_path(spec.layer_dirs)
    module_name = f"_local_lambda_{spec.logical_id}_{module_file.replace('.', '_')}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(module_spec)
    code_dir = str(spec.code_uri)
    before = set(sys.modules)
    sys.modules[module_name] = module
    sys.path.insert(0, code_dir)
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    finally:
        sys.path.remove(code_dir)
        for name in set(sys.modules) - before - {module_name}:
            origin = getattr(sys.modules[name], "__file__", None) or ""
            if origin.startswith(code_dir + "/"):
                del sys.modules[name]
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise AttributeError(f"{spec.logical_id}: {path} has no callable {attribute!r}")
    return cast(Handler, handler)


@dataclass
class LocalFunction:
    """A loaded function: its spec, handler and the identity it reports in its context."""

    spec: FunctionSpec
    handler: Handler
    function_name: str
    function_arn: str
    lock: threading.Lock | None = None

    def new_context(self) -> LambdaContext:
        """A fresh context for one invocation."""
        return LambdaContext(
            self.function_name, self.function_arn, self.spec.memory_size, self.spec.timeout
        )

    def invoke(self, event: Any) -> Any:
        """Call the handler (under the shared invocation lock when one is set)."""
        with self.lock if self.lock is not None else nullcontext():
            token = logfile.source.set(self.spec.logical_id)  # the stack's log file names it
            try:
                return self.handler(event, self.new_context())
            finally:
                logfile.source.reset(token)


def function_identity(spec: FunctionSpec, context: ResolveContext) -> tuple[str, str]:
    """The name (FunctionName, else stack-LogicalId, as CloudFormation) and ARN of spec."""
    if spec.function_name is not None:
        name = context.resolve_str(spec.function_name)
    else:
        name = f"{context.stack_name}-{spec.logical_id}"
    arn = f"arn:{context.partition}:lambda:{context.region}:{context.account_id}:function:{name}"
    return name, arn


def load_function(
    spec: FunctionSpec, context: ResolveContext, lock: threading.Lock | None = None
) -> LocalFunction:
    """Load spec's handler into this process, named as function_identity says.

    Pass one lock to every function to run one invocation at a time in the process
    (handlers share module-level state such as Powertools' logger keys and metric set).
    """
    name, arn = function_identity(spec, context)
    return LocalFunction(spec, load_handler(spec), name, arn, lock)
