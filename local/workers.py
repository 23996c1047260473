"""Each function's invocations in worker processes of its own, as Lambda's containers.

A ``WorkerPool`` holds a function's workers: ``python -m local.workers`` children that load
the handler once (the cold start, with the stack's environment) and then serve one
invocation at a time. An invocation goes to a free worker of its function, so a retry batch
that hangs on Richpanel never holds up an ingest request (each process has its own
Powertools logger and metrics, which is why these are processes and not threads).

Protocol (JSON lines on two pipes of the child's own, not stdin/stdout): the parent sends
an init line (where the handler is, the context's identity), the child answers ``{"ready":
true}`` or ``{"error": ...}``; then per invocation ``{"request_id", "event"}`` ->
``{"result": ...}`` or ``{"error": {"type", "message", "traceback"}}``. The child's
stdout and stderr are pipes too: the parent writes them, whole line by whole line, to its
own stdout / stderr (under one lock, so lines of concurrent workers never mix), and waits
for an invocation's output before returning its result.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TextIO

from local import logfile
from local.lambda_runtime import LambdaContext, function_identity, load_handler

if TYPE_CHECKING:
    from local.template import FunctionSpec, ResolveContext, Template

MODES = ("process", "inline")
API_WORKERS_VARIABLE = "LOCAL_API_WORKERS"
DEFAULT_API_WORKERS = 2  # per function with Api events; Lambda would scale out further
READY_TIMEOUT_SECONDS = 60.0
OUTPUT_WAIT_SECONDS = 5.0  # at most, for an invocation's log lines after its result
_SYNC = b"\x1elocal-worker-sync\n"  # written by the child after each invocation's output
_REPO_ROOT = Path(__file__).resolve().parents[1]
_OUTPUT_LOCK = threading.Lock()


class WorkerError(Exception):
    """A worker could not load its handler, or died during an invocation."""


class InvocationError(Exception):
    """The handler raised in its worker (the worker's traceback is in the message)."""

    def __init__(self, error: Mapping[str, Any]) -> None:
        """Keep the handler's error type, message and traceback."""
        self.error_type = str(error.get("type", "Exception"))
        self.error_message = str(error.get("message", ""))
        self.remote_traceback = str(error.get("traceback", ""))
        super().__init__(
            f"{self.error_type}: {self.error_message}\n--- in the worker:\n{self.remote_traceback}"
        )


def pool_sizes(
    template: Template, specs: list[FunctionSpec], environ: Mapping[str, str]
) -> dict[str, int]:
    """Workers per function: the SQS mapping's MaximumConcurrency, API_WORKERS for Api ones."""
    raw = environ.get(API_WORKERS_VARIABLE, "").strip()
    api_workers = int(raw) if raw else DEFAULT_API_WORKERS
    if api_workers < 1:
        raise ValueError(f"{API_WORKERS_VARIABLE} must be at least 1, got {raw!r}")
    api_functions = {route.function_id for route in template.api_routes()}
    sizes: dict[str, int] = {}
    for spec in specs:
        size = 1
        source = template.sqs_event_source(spec.logical_id)
        if source is not None and source.enabled:
            size = max(size, source.maximum_concurrency or 1)  # as SqsPoller's threads
        if spec.logical_id in api_functions:
            size = max(size, api_workers)
        sizes[spec.logical_id] = size
    return sizes


def _relay(
    stream: IO[bytes],
    target: Callable[[], TextIO],
    synced: Callable[[], None],
    function: str | None = None,
) -> None:
    """Copy a child's output to target() line by line; count the sync markers. ``function``
    names the lines' source for the stack's log file (local/logfile.py)."""
    logfile.source.set(function)
    for raw in iter(stream.readline, b""):
        if raw.endswith(_SYNC):
            raw = raw[: -len(_SYNC)]
            if raw:
                _write(target, raw + b"\n")
            synced()
            continue
        _write(target, raw if raw.endswith(b"\n") else raw + b"\n")
    stream.close()


def _write(target: Callable[[], TextIO], raw: bytes) -> None:
    with _OUTPUT_LOCK:
        out = target()  # looked up each time: a redirected sys.stdout gets the lines
        try:
            out.write(raw.decode("utf-8", "replace"))
            out.flush()
        except (OSError, ValueError):  # the parent's stream is gone: drop the line
            pass


class Worker:
    """One worker process of a function (one container)."""

    def __init__(
        self,
        init: Mapping[str, Any],
        environment: Mapping[str, str],
        name: str,
        function: str | None = None,
    ) -> None:
        """Spawn the child (it starts loading the handler at once); see wait_ready()."""
        self.name = name
        request_read, request_write = os.pipe()
        response_read, response_write = os.pipe()
        env = dict(environment)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(_REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
        )
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "local.workers", str(request_read), str(response_write)],
                pass_fds=(request_read, response_write),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
        finally:
            os.close(request_read)
            os.close(response_write)
        self._requests = os.fdopen(request_write, "wb")
        self._responses = os.fdopen(response_read, "rb")
        self._synced = 0
        self._sync = threading.Condition()
        assert self.process.stdout is not None and self.process.stderr is not None
        self._relays = [
            threading.Thread(
                target=_relay,
                args=(stream, target, self._mark_synced, function),
                name=f"{name}-{label}",
                daemon=True,
            )
            for stream, target, label in (
                (self.process.stdout, lambda: sys.stdout, "stdout"),
                (self.process.stderr, lambda: sys.stderr, "stderr"),
            )
        ]
        for relay in self._relays:
            relay.start()
        self.ready = False
        self._send(init)

    def _mark_synced(self) -> None:
        with self._sync:
            self._synced += 1
            self._sync.notify_all()

    def _send(self, message: Mapping[str, Any]) -> None:
        try:
            self._requests.write(json.dumps(message).encode("utf-8") + b"\n")
            self._requests.flush()
        except (OSError, ValueError) as exc:
            raise WorkerError(f"{self.name}: the worker is gone ({exc})") from exc

    def _receive(self, timeout: float | None = None) -> dict[str, Any]:
        if timeout is not None:  # only before the first answer: nothing is buffered yet
            ready, _, _ = select.select([self._responses.fileno()], [], [], timeout)
            if not ready:
                raise WorkerError(f"{self.name}: no answer after {timeout:g}s")
        line = self._responses.readline()
        if not line:
            code = self.process.wait(timeout=5)
            self._drain_output()
            raise WorkerError(f"{self.name}: the worker exited (code {code})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Wait for the cold start; WorkerError with the child's traceback if it failed."""
        if self.ready:
            return
        answer = self._receive(timeout)
        if "error" in answer:
            error = answer["error"]
            raise WorkerError(f"{self.name}: loading the handler failed:\n{error['traceback']}")
        self.ready = True

    def invoke(self, event: Any) -> Any:
        """One invocation; its log lines are written out before this returns."""
        self.wait_ready()
        with self._sync:
            expected = self._synced + 2  # one marker on stdout, one on stderr
        self._send({"request_id": str(uuid.uuid4()), "event": event})
        answer = self._receive()
        self._wait_output(expected)
        if "error" in answer:
            raise InvocationError(answer["error"])
        return answer.get("result")

    def _wait_output(self, expected: int) -> None:
        deadline = time.monotonic() + OUTPUT_WAIT_SECONDS
        with self._sync:
            while self._synced < expected and (left := deadline - time.monotonic()) > 0:
                self._sync.wait(left)

    def _drain_output(self) -> None:
        for relay in self._relays:
            relay.join(OUTPUT_WAIT_SECONDS)

    @property
    def alive(self) -> bool:
        """Whether the child is still running."""
        return self.process.poll() is None

    def stop(self, timeout: float = 2.0) -> None:
        """Close its request pipe (it exits after the invocation in flight), then kill."""
        with contextlib.suppress(OSError):
            self._requests.close()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._drain_output()
        self._responses.close()


@dataclass
class WorkerPool:
    """A function's workers: one started with the stack, more on demand up to size.

    An invocation takes a free worker; when all are busy and the pool is below size, a new
    one is spawned for it (a cold start, as Lambda scales out), else it waits for one.
    """

    spec: FunctionSpec
    function_name: str
    function_arn: str
    size: int
    environment: Mapping[str, str] = field(default_factory=dict)
    _idle: list[Worker] = field(default_factory=list, init=False, repr=False)
    _all: list[Worker] = field(default_factory=list, init=False, repr=False)
    _free: threading.Condition = field(default_factory=threading.Condition, init=False)
    _closed: bool = field(default=False, init=False)

    def _init_message(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "logical_id": spec.logical_id,
            "code_uri": str(spec.code_uri),
            "handler": spec.handler,
            "layer_dirs": [str(path) for path in spec.layer_dirs],
            "function_name": self.function_name,
            "function_arn": self.function_arn,
            "memory_size": spec.memory_size,
            "timeout": spec.timeout,
        }

    def _spawn(self, index: int) -> Worker:
        name = f"worker {self.spec.logical_id}-{index}"
        return Worker(self._init_message(), self.environment, name, self.spec.logical_id)

    def start(self, warm: int = 1) -> WorkerPool:
        """Spawn warm workers (they cold-start in parallel); wait_ready() waits for them."""
        with self._free:
            for _ in range(min(warm, self.size) - len(self._all)):
                worker = self._spawn(len(self._all))
                self._all.append(worker)
                self._idle.append(worker)
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Wait until every worker has loaded the handler (WorkerError if one failed)."""
        deadline = time.monotonic() + timeout
        for worker in list(self._all):
            worker.wait_ready(max(0.1, deadline - time.monotonic()))

    def invoke(self, event: Any) -> Any:
        """Run one invocation on a free worker; raise what the handler raised."""
        worker = self._acquire()
        try:
            return worker.invoke(event)
        finally:
            self._release(worker)

    def _acquire(self) -> Worker:
        with self._free:
            while not self._idle and len(self._all) >= self.size and not self._closed:
                self._free.wait()
            if self._closed:
                raise WorkerError(f"{self.spec.logical_id}: the workers are stopped")
            if not self._idle:  # all busy, room for one more: scale out
                worker = self._spawn(len(self._all))
                self._all.append(worker)
                return worker
            ready = [worker for worker in self._idle if worker.ready]
            worker = ready[0] if ready else self._idle[0]
            self._idle.remove(worker)
        if not worker.alive:  # it died in an earlier invocation: a new container
            replacement = self._spawn(self._all.index(worker))
            with self._free:
                self._all[self._all.index(worker)] = replacement
            worker.stop(0)
            worker = replacement
        return worker

    def _release(self, worker: Worker) -> None:
        with self._free:
            self._idle.append(worker)
            self._free.notify()

    @property
    def started(self) -> int:
        """How many workers have been spawned (replacements of dead ones not counted)."""
        return len(self._all)

    def stop(self) -> None:
        """Stop every worker (an invocation in flight fails with WorkerError)."""
        with self._free:
            self._closed = True
            self._free.notify_all()
            workers = list(self._all)
        for worker in workers:
            worker.stop()


@dataclass
class ProcessFunction:
    """A function whose invocations run in its WorkerPool (what the API/pollers invoke)."""

    spec: FunctionSpec
    function_name: str
    function_arn: str
    pool: WorkerPool

    def invoke(self, event: Any) -> Any:
        """Run one invocation in a worker of this function."""
        return self.pool.invoke(event)


def process_functions(
    specs: list[FunctionSpec], context: ResolveContext, sizes: Mapping[str, int]
) -> dict[str, ProcessFunction]:
    """A ProcessFunction (its pool not started) per spec."""
    functions: dict[str, ProcessFunction] = {}
    for spec in specs:
        name, arn = function_identity(spec, context)
        pool = WorkerPool(spec, name, arn, sizes.get(spec.logical_id, 1))
        functions[spec.logical_id] = ProcessFunction(spec, name, arn, pool)
    return functions


def start_pools(pools: list[WorkerPool], environment: Mapping[str, str]) -> None:
    """Spawn every pool's workers at once and wait for all their cold starts."""
    for pool in pools:
        pool.environment = dict(environment)
        pool.start()
    for pool in pools:
        pool.wait_ready()


# ----------------------------------------------------------------------------- the child


@dataclass(frozen=True)
class _HandlerLocation:
    logical_id: str
    code_uri: Path
    handler: str
    layer_dirs: tuple[Path, ...]


def _answer(responses: IO[bytes], message: Mapping[str, Any]) -> None:
    responses.write(json.dumps(message).encode("utf-8") + b"\n")
    responses.flush()


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)),
    }


def _sync_output() -> None:
    """Flush this invocation's output and mark its end on both streams."""
    for stream, fd in ((sys.stdout, 1), (sys.stderr, 2)):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
        os.write(fd, _SYNC)


def serve(request_fd: int, response_fd: int) -> int:
    """The worker: load the handler named by the init line, then serve invocations."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    requests = os.fdopen(request_fd, "rb")
    responses = os.fdopen(response_fd, "wb")
    init = json.loads(requests.readline() or b"null")
    if not init:
        return 0
    location = _HandlerLocation(
        init["logical_id"],
        Path(init["code_uri"]),
        init["handler"],
        tuple(Path(path) for path in init["layer_dirs"]),
    )
    try:
        handler = load_handler(location)
    except Exception as exc:
        _answer(responses, {"error": _error(exc)})
        return 1
    _answer(responses, {"ready": True})
    for line in iter(requests.readline, b""):
        request = json.loads(line)
        context = LambdaContext(
            init["function_name"],
            init["function_arn"],
            init["memory_size"],
            init["timeout"],
            aws_request_id=request["request_id"],
        )
        try:
            result = handler(request["event"], context)
            answer = json.dumps({"result": result})
        except Exception as exc:
            answer = json.dumps({"error": _error(exc)})
        _sync_output()
        responses.write(answer.encode("utf-8") + b"\n")
        responses.flush()
    return 0


if __name__ == "__main__":
    sys.exit(serve(int(sys.argv[1]), int(sys.argv[2])))
