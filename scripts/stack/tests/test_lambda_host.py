"""The Lambda host, against a fake function that speaks the Runtime API as a Rust binary does.

The fake keeps one connection alive across polls (as the runtime client does) and acts on its
payload's "action": echo what it received, sleep, report an error, exit mid-invocation, answer
with a chunked body, or report a mid-stream error in the chunked body's trailers.
"""
import http.client
import json
import os
import re
import sys
import threading
import time

import pytest

from ..lambda_host import LAMBDA_RESERVED, Function, Host

FAKE_FUNCTION = r'''
import http.client, json, os, socket, sys, time

API = "/2018-06-01/runtime"
HOST, PORT = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
connection = http.client.HTTPConnection(HOST, int(PORT))


def call(method, path, body=None, headers={}, chunked=False):
    connection.request(method, API + path, body=body, headers=headers, encode_chunked=chunked)
    response = connection.getresponse()
    return response, response.read()


def post(path, document, headers={}):
    return call("POST", path, json.dumps(document).encode(), headers)


def chunks():
    for i in range(40):
        yield bytes([65 + i % 26]) * (1000 + 37 * i)


def stream_error(request_id):
    # http.client cannot send trailers: write the request by hand.
    with socket.create_connection((HOST, int(PORT))) as raw:
        raw.sendall(
            f"POST {API}/invocation/{request_id}/response HTTP/1.1\r\nHost: x\r\n"
            "Transfer-Encoding: chunked\r\nTrailer: Lambda-Runtime-Function-Error-Type\r\n\r\n"
            "5\r\npart1\r\n0\r\nLambda-Runtime-Function-Error-Type: Runtime.StreamError\r\n"
            "Lambda-Runtime-Function-Error-Body: c3RyZWFtIGJyb2tl\r\n\r\n".encode())
        raw.recv(4096)


def echo(event, response, started):
    return {
        "payload": event,
        "request_id": response.getheader("Lambda-Runtime-Aws-Request-Id"),
        "deadline_ms": int(response.getheader("Lambda-Runtime-Deadline-Ms")),
        "arn": response.getheader("Lambda-Runtime-Invoked-Function-Arn"),
        "trace_id": response.getheader("Lambda-Runtime-Trace-Id"),
        "client_context": response.getheader("Lambda-Runtime-Client-Context"),
        "pid": os.getpid(),
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "started": started,
        "finished": time.time(),
    }


def handle(response, body):
    started = time.time()
    request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
    event = json.loads(body)
    action = event.get("action", "echo")
    if action == "sleep":
        time.sleep(event["seconds"])
    if action == "exit":
        os._exit(3)
    if action == "error":
        document = {"errorMessage": "bad input", "errorType": "Fake.Error"}
        return post(f"/invocation/{request_id}/error", document,
                    {"Lambda-Runtime-Function-Error-Type": "Fake.Error"})
    if action == "chunked":
        return call("POST", f"/invocation/{request_id}/response", chunks(), chunked=True)
    if action == "stream_error":
        return stream_error(request_id)
    post(f"/invocation/{request_id}/response", echo(event, response, started))


if os.environ.get("FAKE_INIT_ERROR"):
    post("/init/error", {"errorMessage": "no configuration", "errorType": "Fake.InitError"},
         {"Lambda-Runtime-Function-Error-Type": "Fake.InitError"})
    sys.exit(1)
print("fake function on stdout", flush=True)
print("fake function on stderr", file=sys.stderr, flush=True)
while True:
    handle(*call("GET", "/invocation/next"))
'''

EXPECTED_CHUNKED = b"".join(bytes([65 + i % 26]) * (1000 + 37 * i) for i in range(40))


@pytest.fixture(scope="module")
def fake_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("fake") / "fake_function.py"
    path.write_text(FAKE_FUNCTION)
    return str(path)


@pytest.fixture
def make_function(fake_path):
    functions = []

    def make(name="fake", env=None, **options):
        options.setdefault("timeout_s", 5.0)
        function = Function(name, [sys.executable, fake_path], env or {}, **options)
        functions.append(function)
        return function

    yield make
    for function in functions:
        function.close()


def payload(action="echo", **fields):
    return json.dumps({"action": action, **fields}).encode()


def gone(pid, within_s=3.0):
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


def concurrently(count, call):
    """call(index) from `count` threads released together; the results in index order."""
    results = [None] * count
    barrier = threading.Barrier(count)

    def run(index):
        barrier.wait()
        results[index] = call(index)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    return results


def test_payload_and_runtime_headers_arrive(make_function):
    function = make_function("orders", timeout_s=4.0, region="eu-west-1", account="111122223333")
    trace = "Root=1-67891233-abcdef012345678912345678;Parent=0123456789abcdef;Sampled=1"
    before_ms = time.time() * 1000
    result = function.invoke(payload(value=42), trace_id=trace, client_context='{"custom":{"a":"b"}}')
    assert result.status == "ok", result.body
    echoed = result.json()
    assert echoed["payload"] == {"action": "echo", "value": 42}
    assert echoed["request_id"] == result.request_id
    assert abs(echoed["deadline_ms"] - (before_ms + 4000)) < 1000
    assert echoed["arn"] == "arn:aws:lambda:eu-west-1:111122223333:function:orders"
    assert echoed["trace_id"] == trace
    assert echoed["client_context"] == '{"custom":{"a":"b"}}'
    assert result.cold_start and result.pid == echoed["pid"] and result.duration_ms > 0


def test_trace_id_is_generated_when_not_given(make_function):
    echoed = make_function().invoke(payload()).json()
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0",
                        echoed["trace_id"])
    assert echoed["client_context"] is None


def test_lambda_variables_are_set_and_win(make_function, fake_path, monkeypatch):
    monkeypatch.setenv("HOST_ONLY_SETTING", "leaks")
    function = make_function("licenses", env={"TABLE": "t1", "TZ": "Europe/Paris", "AWS_REGION": "x"},
                             memory_mb=512, region="eu-central-1")
    echoed = function.invoke(payload()).json()
    env, task_root = echoed["env"], os.path.dirname(sys.executable)
    assert env["TABLE"] == "t1"
    assert "HOST_ONLY_SETTING" not in env
    assert re.fullmatch(r"127\.0\.0\.1:\d+", env["AWS_LAMBDA_RUNTIME_API"])
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", env["AWS_LAMBDA_LOG_STREAM_NAME"])
    assert {key: env[key] for key in LAMBDA_RESERVED - {"AWS_LAMBDA_RUNTIME_API",
                                                          "AWS_LAMBDA_LOG_STREAM_NAME"}} == {
        "AWS_LAMBDA_FUNCTION_NAME": "licenses",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/licenses",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": "eu-central-1",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023",
        "_HANDLER": "bootstrap",
        "LAMBDA_TASK_ROOT": task_root,
        "LAMBDA_RUNTIME_DIR": task_root,
        "TZ": ":UTC",
    }
    assert echoed["cwd"] == os.path.realpath(task_root)


@pytest.mark.parametrize("key", ["AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_FUNCTION_NAME", "_HANDLER",
                                 "LAMBDA_TASK_ROOT", "AWS_EXECUTION_ENV"])
def test_reserved_variable_in_env_is_refused(make_function, key):
    with pytest.raises(ValueError, match=key):
        make_function(env={"OTHER": "1", key: "mine"})


def test_sequential_invocations_reuse_the_warm_process(make_function):
    function = make_function()
    first, second = function.invoke(payload()), function.invoke(payload())
    assert first.json()["pid"] == second.json()["pid"]
    assert first.request_id != second.request_id
    assert first.cold_start and not second.cold_start


def test_recycle_starts_the_next_invocation_in_a_fresh_process(make_function):
    f = make_function()
    first = f.invoke(b'{"action": "echo"}')
    assert f.invoke(b'{"action": "echo"}').pid == first.pid, "warm before"
    f.recycle()
    after = f.invoke(b'{"action": "echo"}')
    assert after.status == "ok"
    assert after.pid != first.pid
    assert after.cold_start


def test_concurrent_invocations_run_in_separate_processes(make_function):
    function = make_function()
    results = concurrently(2, lambda _: function.invoke(payload("sleep", seconds=0.3)))
    assert [result.status for result in results] == ["ok", "ok"]
    assert len({result.json()["pid"] for result in results}) == 2


def test_at_the_cap_invocations_wait_and_never_overlap_in_a_process(make_function):
    function = make_function(max_processes=2)
    started = time.monotonic()
    results = concurrently(5, lambda _: function.invoke(payload("sleep", seconds=0.25)))
    assert time.monotonic() - started >= 0.7  # three rounds on two processes
    assert all(result.status == "ok" for result in results)
    spans = {}
    for result in results:
        echoed = result.json()
        spans.setdefault(echoed["pid"], []).append((echoed["started"], echoed["finished"]))
    assert len(spans) == 2
    for intervals in spans.values():
        intervals.sort()
        assert all(end <= next_start for (_, end), (next_start, _) in zip(intervals, intervals[1:]))


def test_timeout_kills_the_process_and_the_next_invocation_starts_another(make_function):
    function = make_function(timeout_s=1.0)
    pid = function.invoke(payload()).json()["pid"]
    started = time.monotonic()
    result = function.invoke(payload("sleep", seconds=10))
    elapsed = time.monotonic() - started
    assert result.status == "timeout"
    assert 0.9 <= elapsed < 2.0
    assert json.loads(result.body) == {"errorMessage": "Task timed out after 1.00 seconds",
                                       "errorType": "Sandbox.Timedout"}
    assert gone(pid)
    after = function.invoke(payload())
    assert after.status == "ok" and after.json()["pid"] != pid and after.cold_start


def test_exit_mid_invocation_is_a_crash(make_function):
    function = make_function()
    result = function.invoke(payload("exit"))
    assert result.status == "crashed"
    document = json.loads(result.body)
    assert document["errorType"] == "Runtime.ExitError" == result.error_type
    assert document["errorMessage"].endswith("Runtime exited with error: exit status 3")
    assert result.request_id in document["errorMessage"]
    assert gone(result.pid)
    assert function.invoke(payload()).json()["pid"] != result.pid


def test_reported_error_returns_its_document_and_keeps_the_process(make_function):
    function = make_function()
    result = function.invoke(payload("error"))
    assert result.status == "error"
    assert json.loads(result.body) == {"errorMessage": "bad input", "errorType": "Fake.Error"}
    assert result.error_type == "Fake.Error"
    assert function.invoke(payload()).json()["pid"] == result.pid


def test_init_error_fails_the_invocation_and_discards_the_process(make_function):
    function = make_function(env={"FAKE_INIT_ERROR": "1"})
    result = function.invoke(payload())
    assert result.status == "init_error"
    assert json.loads(result.body) == {"errorMessage": "no configuration", "errorType": "Fake.InitError"}
    assert result.error_type == "Fake.InitError"
    assert gone(result.pid)


def test_chunked_response_is_read_whole(make_function):
    function = make_function()
    result = function.invoke(payload("chunked"))
    assert result.status == "ok"
    assert result.body == EXPECTED_CHUNKED
    assert function.invoke(payload()).json()["pid"] == result.pid  # the connection stayed usable


def test_error_in_stream_trailers_is_an_error(make_function):
    result = make_function().invoke(payload("stream_error"))
    assert result.status == "error"
    assert result.error_type == "Runtime.StreamError"
    assert json.loads(result.body) == {"errorMessage": "stream broke", "errorType": "Runtime.StreamError"}


def test_runtime_api_refuses_unknown_ids_and_paths(make_function):
    function = make_function()
    first = function.invoke(payload())
    host, port = first.json()["env"]["AWS_LAMBDA_RUNTIME_API"].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    for method, path, expected in [
        ("POST", "/2018-06-01/runtime/invocation/no-such-id/response", 400),
        ("POST", f"/2018-06-01/runtime/invocation/{first.request_id}/response", 400),  # done
        ("POST", "/2018-06-01/runtime/invocation/no-such-id/error", 400),
        ("GET", "/2018-06-01/runtime/nothing", 404),
        ("POST", "/2018-06-01/runtime/invocation/x/finish", 404),
    ]:
        connection.request(method, path, body=b"{}" if method == "POST" else None)
        response = connection.getresponse()
        response.read()
        assert (path, response.status) == (path, expected)
    assert function.invoke(payload()).status == "ok"


def test_logs_are_appended_to_the_log_file(make_function, tmp_path):
    log = tmp_path / "fake.log"
    log.write_text("earlier line\n")
    result = make_function(log_path=str(log)).invoke(payload())
    text = log.read_text()
    assert text.startswith("earlier line\n")
    assert "fake function on stdout" in text and "fake function on stderr" in text
    assert f"START RequestId: {result.request_id} Version: $LATEST" in text
    assert f"REPORT RequestId: {result.request_id}\tDuration: " in text


def test_close_leaves_no_process_alive(make_function):
    function = make_function()
    results = concurrently(3, lambda _: function.invoke(payload("sleep", seconds=0.1)))
    pids = {result.json()["pid"] for result in results}
    assert len(pids) == 3
    function.close()
    assert all(gone(pid, within_s=0.5) for pid in pids)
    with pytest.raises(RuntimeError):
        function.invoke(payload())


def test_close_ends_an_invocation_in_flight(make_function):
    function = make_function()
    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(function.invoke(payload("sleep", seconds=10))))
    worker.start()
    time.sleep(0.5)
    function.close()
    worker.join(3)
    assert outcome and outcome[0].status == "crashed"
    assert gone(outcome[0].pid, within_s=0.5)


def test_host_invokes_by_name_from_many_threads_and_records(make_function):
    host = Host()
    host.add(make_function("alpha"))
    host.add(make_function("beta"))
    with pytest.raises(ValueError):
        host.add(make_function("alpha"))
    with pytest.raises(KeyError):
        host.get("gamma")
    names = ["alpha", "beta"] * 3
    results = concurrently(6, lambda index: host.invoke(names[index], payload("sleep", seconds=0.1)))
    assert all(result.json()["env"]["AWS_LAMBDA_FUNCTION_NAME"] == name
               for name, result in zip(names, results))
    records = host.invocations()
    assert sorted((r["name"], r["request_id"], r["status"]) for r in records) == sorted(
        (name, result.request_id, "ok") for name, result in zip(names, results))
    assert all(r["duration_ms"] >= 100 for r in records)
    pids = {result.pid for result in results}
    host.close()
    assert all(gone(pid, within_s=0.5) for pid in pids)
