"""Lambda functions run from their built binaries, as AWS Lambda runs them.

A function's binary (`target/debug/<bin>`, built on `lambda_runtime`/`lambda_http`) does not
listen for requests: it polls the Lambda Runtime API (2018-06-01) for its next invocation and
posts back the response or an error. Each execution environment here is one process with a
Runtime API endpoint of its own on 127.0.0.1, so the binary under test is the one that ships,
talking to the same API it talks to in AWS.

As in Lambda:
- an environment runs one invocation at a time and is reused (warm) for the next; when none
  is idle a new one is started (a cold start), up to `max_processes`. At the cap, Lambda would
  throttle the invocation (429); here it waits for an environment to become idle, so a burst
  of test traffic slows down instead of failing;
- an invocation not completed within the timeout fails with `Sandbox.Timedout`, and its
  environment is killed; a process that exits mid-invocation fails it with
  `Runtime.ExitError`; a failed init (`/runtime/init/error`) fails the invocation waiting for
  it. In each case the environment is discarded and the next invocation starts a fresh one;
- the process sees Lambda's own environment variables (`LAMBDA_RESERVED`) besides the
  function's, and nothing of this process's environment, so it depends only on what the
  template gives it;
- its stdout and stderr are the function's log, with Lambda's START/END/REPORT lines.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import os
import re
import secrets
import shutil
import signal
import socketserver
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

LAMBDA_RESERVED = frozenset({
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "_HANDLER",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
    "TZ",
})

# AWS rejects a function configuration that sets these; the others in LAMBDA_RESERVED are
# silently replaced by Lambda's values, as they are here.
_REFUSED_IN_ENV = ("AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_FUNCTION_NAME", "_HANDLER",
                   "LAMBDA_TASK_ROOT", "AWS_EXECUTION_ENV")

OK, ERROR, TIMEOUT, CRASHED, INIT_ERROR = "ok", "error", "timeout", "crashed", "init_error"

_API = "/2018-06-01/runtime"
_NEXT_PATH = f"{_API}/invocation/next"
_INIT_ERROR_PATH = f"{_API}/init/error"
_COMPLETION_PATH = re.compile(rf"^{_API}/invocation/([^/]+)/(response|error)$")
_ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"
_ERROR_BODY = "Lambda-Runtime-Function-Error-Body"


@dataclass
class Result:
    """How one invocation ended, as the invoker sees it."""

    status: str  # ok, error, timeout, crashed, init_error
    body: bytes  # the response payload, or the error document
    request_id: str
    duration_ms: float  # from hand-off to the environment (a cold start's init included)
    error_type: str | None = None  # Lambda-Runtime-Function-Error-Type, or Lambda's own
    cold_start: bool = False
    pid: int | None = None

    def json(self):
        return json.loads(self.body)


def _error_document(message: str, error_type: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


def _error_message(document: bytes) -> str:
    try:
        return str(json.loads(document).get("errorMessage", ""))
    except (ValueError, AttributeError):
        return document.decode("utf-8", "replace")


def _new_trace_id() -> str:
    root = f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    return f"Root={root};Parent={secrets.token_hex(8)};Sampled=0"


def _log_stream_name() -> str:
    return time.strftime("%Y/%m/%d", time.gmtime()) + f"/[$LATEST]{secrets.token_hex(16)}"


def _exit_description(returncode: int) -> str:
    # Lambda words these as Go's os/exec does: "exit status 1", "signal: killed".
    if returncode < 0:
        name = signal.strsignal(-returncode) or f"signal {-returncode}"
        return f"signal: {name.lower()}"
    return f"exit status {returncode}"


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class _Invocation:
    """One invocation: what the Runtime API hands out, and its outcome (the first one wins)."""

    def __init__(self, payload: bytes, trace_id: str | None, client_context: str | None):
        self.request_id = str(uuid.uuid4())
        self.payload = payload
        self.trace_id = trace_id or _new_trace_id()
        self.client_context = client_context
        self.deadline_ms = 0
        self.cold_start = False
        self.pid: int | None = None
        self._started = 0.0
        self._outcome: tuple | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()

    def begin(self, timeout_s: float, pid: int, cold_start: bool) -> None:
        self._started = time.monotonic()
        self.deadline_ms = int((time.time() + timeout_s) * 1000)
        self.pid, self.cold_start = pid, cold_start

    def complete(self, status: str, body: bytes, error_type: str | None = None) -> bool:
        with self._lock:
            if self._outcome is not None:
                return False
            self._outcome = (status, body, error_type, time.monotonic())
        self._done.set()
        return True

    def wait(self, timeout_s: float) -> bool:
        return self._done.wait(timeout_s)

    def headers(self, function_arn: str) -> dict[str, str]:
        headers = {
            "Lambda-Runtime-Aws-Request-Id": self.request_id,
            "Lambda-Runtime-Deadline-Ms": str(self.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": function_arn,
            "Lambda-Runtime-Trace-Id": self.trace_id,
        }
        if self.client_context is not None:
            headers["Lambda-Runtime-Client-Context"] = self.client_context
        return headers

    def result(self) -> Result:
        status, body, error_type, finished = self._outcome
        return Result(status, body, self.request_id, (finished - self._started) * 1000,
                      error_type, self.cold_start, self.pid)


def _read_body(handler: BaseHTTPRequestHandler) -> tuple[bytes, dict[str, str]]:
    """The request body and its trailers; http.server leaves chunked bodies undecoded."""
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        return _read_chunked(handler.rfile)
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0)), {}


def _read_chunked(stream) -> tuple[bytes, dict[str, str]]:
    parts = []
    while size := int(_read_line(stream).split(b";", 1)[0].strip(), 16):
        data = stream.read(size)
        if len(data) != size:
            raise ValueError("chunked body cut short")
        parts.append(data)
        _read_line(stream)  # the CRLF closing the chunk
    return b"".join(parts), _read_trailers(stream)


def _read_trailers(stream) -> dict[str, str]:
    # A streamed response reports a mid-stream error in its trailers.
    trailers = {}
    while line := _read_line(stream).strip():
        name, _, value = line.decode("latin-1").partition(":")
        trailers[name.strip().lower()] = value.strip()
    return trailers


def _read_line(stream) -> bytes:
    line = stream.readline(65537)
    if not line:
        raise ValueError("chunked body cut short")
    return line


def _completion(kind: str, body: bytes, headers, trailers: dict[str, str]):
    """(status, body, error type) of a posted response or error."""
    if kind == "error":
        return ERROR, body, headers.get(_ERROR_TYPE)
    error_type = trailers.get(_ERROR_TYPE.lower())
    if error_type is None:
        return OK, body, None
    return ERROR, _stream_error_document(error_type, trailers.get(_ERROR_BODY.lower(), "")), error_type


def _stream_error_document(error_type: str, encoded: str) -> bytes:
    try:
        message = base64.b64decode(encoded, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        message = encoded
    return _error_document(message, error_type)


class _RuntimeHandler(BaseHTTPRequestHandler):
    """The Runtime API of one execution environment."""

    protocol_version = "HTTP/1.1"  # the runtime client keeps its connection alive
    server_version = "LambdaRuntimeAPI/2018-06-01"

    def log_message(self, format, *args):
        pass  # the function's own log is what matters; one line per poll would drown it

    def do_GET(self):
        if urlsplit(self.path).path != _NEXT_PATH:
            return self._reply(404, {"errorMessage": "Not found", "errorType": "NotFound"})
        environment = self.server.environment
        invocation = environment.next_invocation()
        if invocation is None:  # the environment is being discarded
            self.close_connection = True
            return self._reply(500, {"errorMessage": "environment stopped", "errorType": "Shutdown"})
        self._send(200, invocation.payload, invocation.headers(environment.function_arn))

    def do_POST(self):
        try:
            body, trailers = _read_body(self)
        except ValueError as error:
            self.close_connection = True
            return self._reply(400, {"errorMessage": str(error), "errorType": "InvalidRequest"})
        path = urlsplit(self.path).path
        if path == _INIT_ERROR_PATH:
            self.server.environment.init_error(body, self.headers.get(_ERROR_TYPE))
            return self._reply(202, {"status": "OK"})
        match = _COMPLETION_PATH.match(path)
        if match is None:
            return self._reply(404, {"errorMessage": "Not found", "errorType": "NotFound"})
        self._complete(match.group(1), _completion(match.group(2), body, self.headers, trailers))

    def _complete(self, request_id: str, completion: tuple) -> None:
        if self.server.environment.complete(request_id, *completion):
            return self._reply(202, {"status": "OK"})
        self._reply(400, {"errorMessage": f"Invalid request ID: {request_id}",
                          "errorType": "InvalidRequestID"})

    def _reply(self, code: int, document: dict) -> None:
        self._send(code, json.dumps(document).encode(), {})

    def _send(self, code: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class _RuntimeServer(ThreadingHTTPServer):
    daemon_threads = True  # a handler blocked in /next must not hold up shutdown

    def __init__(self, environment: _Environment):
        super().__init__(("127.0.0.1", 0), _RuntimeHandler)
        self.environment = environment

    def server_bind(self):
        # HTTPServer.server_bind resolves the host's FQDN, which can stall on DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a killed process drops its connection mid-request: expected, not news
        super().handle_error(request, client_address)


class _Environment:
    """One execution environment: a process and the Runtime API endpoint it polls."""

    def __init__(self, function: Function):
        self._function = function
        self.function_arn = function.arn
        self._cond = threading.Condition()
        self._pending: _Invocation | None = None  # assigned, not yet fetched by /next
        self._current: _Invocation | None = None  # assigned, not yet completed
        self._invocations = 0
        self.dead = False
        self._server = _RuntimeServer(self)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         name=f"runtime-api-{function.name}", daemon=True).start()
        try:
            self.process = function.spawn(self._server.server_port)
        except BaseException:
            self._stop_server()
            raise
        self._watcher = threading.Thread(target=self._watch, daemon=True,
                                         name=f"lambda-{function.name}-{self.process.pid}")
        self._watcher.start()

    def assign(self, invocation: _Invocation, timeout_s: float) -> bool:
        """Hand the invocation to this environment; False if its process has already exited."""
        with self._cond:
            if self.dead:
                return False
            invocation.begin(timeout_s, self.process.pid, self._invocations == 0)
            self._invocations += 1
            self._pending = self._current = invocation
            self._cond.notify_all()
        return True

    def next_invocation(self) -> _Invocation | None:
        with self._cond:
            while self._pending is None and not self.dead:
                self._cond.wait()
            invocation, self._pending = self._pending, None
            return None if self.dead else invocation

    def complete(self, request_id: str, status: str, body: bytes, error_type: str | None) -> bool:
        with self._cond:
            invocation = self._current
            # Only the invocation this process has fetched, and only once.
            if invocation is None or invocation is self._pending or invocation.request_id != request_id:
                return False
            self._current = None
        return invocation.complete(status, body, error_type)

    def init_error(self, body: bytes, error_type: str | None) -> None:
        with self._cond:
            invocation, self._current, self._pending = self._current, None, None
        if invocation is None:
            return self.kill()
        body = body or _error_document("Runtime failed to initialize", "Runtime.InitError")
        invocation.complete(INIT_ERROR, body, error_type or "Runtime.InitError")

    def kill(self) -> None:
        if not self.dead and self.process.poll() is None:
            _kill_group(self.process.pid)  # the whole session: anything the function started too

    def join(self, timeout_s: float) -> None:
        self._watcher.join(timeout_s)

    def _watch(self) -> None:
        returncode = self.process.wait()
        _kill_group(self.process.pid)
        with self._cond:
            self.dead = True
            invocation, self._current, self._pending = self._current, None, None
            self._cond.notify_all()
        if invocation is not None:
            message = (f"RequestId: {invocation.request_id} Error: Runtime exited with error: "
                       f"{_exit_description(returncode)}")
            invocation.complete(CRASHED, _error_document(message, "Runtime.ExitError"),
                                "Runtime.ExitError")
        self._function.forget(self)
        self._stop_server()

    def _stop_server(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _open_log(log_path: str | None) -> int:
    if log_path is None:
        return 2  # this process's stderr, whatever sys.stderr has been replaced with
    return os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def _resolve(executable: str) -> str:
    if os.sep in executable:
        return os.path.abspath(executable)  # not realpath: a venv's python is a symlink
    return shutil.which(executable) or executable


class Function:
    """One Lambda function: its execution environments, started and reused on demand."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], *, timeout_s: float,
                 memory_mb: int = 256, log_path: str | None = None, max_processes: int = 8,
                 region: str = "us-east-1", account: str = "123456789012"):
        refused = [key for key in _REFUSED_IN_ENV if key in env]
        if refused:
            raise ValueError(f"{name}: Lambda reserves environment variable {refused[0]}")
        if not command or timeout_s <= 0 or max_processes < 1:
            raise ValueError(f"{name}: needs a command, a positive timeout and max_processes >= 1")
        self.name = name
        self.command = [_resolve(command[0]), *command[1:]]
        self.task_root = os.path.dirname(self.command[0]) or os.getcwd()
        self.env = dict(env)
        self.timeout_s, self.memory_mb, self.max_processes = timeout_s, memory_mb, max_processes
        self.region = region
        self.arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
        self._log_fd = _open_log(log_path)
        self._log_lock = threading.Lock()
        self._cond = threading.Condition()
        self._idle: list[_Environment] = []
        self._live: set[_Environment] = set()
        self._starting = 0
        self._closed = False
        # Bumped by recycle(): an environment of an older generation is not reused.
        self._generation = 0

    def invoke(self, payload: bytes, *, trace_id: str | None = None,
               client_context: str | None = None) -> Result:
        """Run one invocation to its end; may wait for an environment (see the module doc)."""
        invocation = _Invocation(payload, trace_id, client_context)
        environment = self._acquire()
        while not environment.assign(invocation, self.timeout_s):
            environment = self._acquire()  # it exited while idle: Lambda would use another
        self._log(f"START RequestId: {invocation.request_id} Version: $LATEST")
        if not invocation.wait(self.timeout_s):
            invocation.complete(TIMEOUT, self._timeout_document(), "Sandbox.Timedout")
        result = invocation.result()
        self._settle(environment, result)
        self._report(result)
        return result

    def close(self) -> None:
        """Kill every process this function started and wait until they are gone."""
        with self._cond:
            self._closed = True
            environments = list(self._live)
            self._idle.clear()
            self._cond.notify_all()
        for environment in environments:
            environment.kill()
        for environment in environments:
            environment.join(5)
        with self._log_lock:
            if self._log_fd != 2:
                os.close(self._log_fd)
                self._log_fd = 2

    def recycle(self) -> None:
        """As a configuration update does in Lambda: every later invocation starts in a fresh
        environment (idle ones are stopped now, busy ones when they finish)."""
        with self._cond:
            self._generation += 1
            idle, self._idle = self._idle, []
        for environment in idle:
            environment.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def spawn(self, port: int) -> subprocess.Popen:
        """Start one environment's process, polling the Runtime API on `port`."""
        with self._log_lock:  # the log's descriptor stays open while it is handed over
            return subprocess.Popen(
                    self.command, env=self.process_env(port), cwd=self.task_root,
                stdin=subprocess.DEVNULL, stdout=self._log_fd, stderr=self._log_fd,
                start_new_session=True)  # its own process group, so kill() reaches its children

    def process_env(self, port: int) -> dict[str, str]:
        return {**self.env, **self._lambda_variables(port)}

    def forget(self, environment: _Environment) -> None:
        """An environment's process has exited: free its place."""
        with self._cond:
            self._live.discard(environment)
            if environment in self._idle:
                self._idle.remove(environment)
            self._cond.notify_all()

    def _lambda_variables(self, port: int) -> dict[str, str]:
        return {
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
            "AWS_LAMBDA_FUNCTION_NAME": self.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": _log_stream_name(),
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023",
            "_HANDLER": "bootstrap",
            "LAMBDA_TASK_ROOT": self.task_root,
            "LAMBDA_RUNTIME_DIR": self.task_root,
            "TZ": ":UTC",
        }

    def _acquire(self) -> _Environment:
        with self._cond:
            while True:
                if self._closed:
                    raise RuntimeError(f"function {self.name} is closed")
                if self._idle:
                    return self._idle.pop()  # the most recently used: fewer stay warm
                if len(self._live) + self._starting < self.max_processes:
                    self._starting += 1
                    break
                self._cond.wait()
        return self._cold_start()

    def _cold_start(self) -> _Environment:
        environment = None
        try:
            environment = _Environment(self)
        finally:
            with self._cond:
                self._starting -= 1
                closed = self._closed
                if environment is not None and not closed and not environment.dead:
                    environment.generation = self._generation
                    self._live.add(environment)
                self._cond.notify_all()
        if closed:
            environment.kill()
            environment.join(5)
            raise RuntimeError(f"function {self.name} is closed")
        return environment

    def _settle(self, environment: _Environment, result: Result) -> None:
        # Lambda keeps an environment after a handled error, discards it after anything else.
        if result.status not in (OK, ERROR):
            return environment.kill()
        with self._cond:
            stale = getattr(environment, "generation", 0) != self._generation
            if not self._closed and environment in self._live and not stale:
                self._idle.append(environment)
                self._cond.notify_all()
                return
        if stale:
            environment.kill()

    def _timeout_document(self) -> bytes:
        return _error_document(f"Task timed out after {self.timeout_s:.2f} seconds", "Sandbox.Timedout")

    def _report(self, result: Result) -> None:
        if result.status in (TIMEOUT, CRASHED, INIT_ERROR):
            message = _error_message(result.body)
            prefix = "" if result.request_id in message else f"{result.request_id} "
            self._log(prefix + message)
        self._log(f"END RequestId: {result.request_id}")
        status = "" if result.status in (OK, ERROR) else f"\tStatus: {result.status}"
        self._log(f"REPORT RequestId: {result.request_id}\tDuration: {result.duration_ms:.2f} ms\t"
                  f"Billed Duration: {math.ceil(result.duration_ms)} ms\t"
                  f"Memory Size: {self.memory_mb} MB{status}")

    def _log(self, line: str) -> None:
        with self._log_lock:
            try:
                os.write(self._log_fd, (line + "\n").encode())  # one write: lines do not interleave
            except OSError:
                pass  # a log that cannot be written must not fail the invocation


class Host:
    """The stack's functions by name, and a record of every invocation for reports."""

    def __init__(self):
        self._functions: dict[str, Function] = {}
        self._records: list[dict] = []
        self._lock = threading.Lock()

    def add(self, function: Function) -> Function:
        with self._lock:
            if function.name in self._functions:
                raise ValueError(f"function {function.name} is already hosted")
            self._functions[function.name] = function
        return function

    def get(self, name: str) -> Function:
        with self._lock:
            if name not in self._functions:
                raise KeyError(f"no function named {name}")
            return self._functions[name]

    def invoke(self, name: str, payload: bytes, *, trace_id: str | None = None,
               client_context: str | None = None) -> Result:
        result = self.get(name).invoke(payload, trace_id=trace_id, client_context=client_context)
        with self._lock:
            self._records.append({"name": name, "request_id": result.request_id,
                                  "status": result.status, "duration_ms": result.duration_ms,
                                  "cold_start": result.cold_start, "error_type": result.error_type})
        return result

    def invocations(self) -> list[dict]:
        with self._lock:
            return [dict(record) for record in self._records]

    def close(self) -> None:
        with self._lock:
            functions = list(self._functions.values())
        for function in functions:
            function.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
