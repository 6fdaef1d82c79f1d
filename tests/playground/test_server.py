"""The playground's server through HTTP (Starlette's TestClient, with the real worker process):
who is let in, what is refused, runaway jobs stopped while the server lives on, the compile's
downloads, the streamed verification, and `rasp serve`'s own errors."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from rasp_toolkit.cli import main
from rasp_toolkit.playground import headless
from rasp_toolkit.playground.app import MAX_BODY, Settings, create_app
from rasp_toolkit.playground.workers import Limits

PORT = 8765
TOKEN = "test-token-123"
BASE = f"http://127.0.0.1:{PORT}"
AUTH = {"authorization": f"token {TOKEN}"}
MINE = "# a comment that must not end the page's data block: </script><script>alert(1)</script>\nmine = indices + 1;\n"
RUNAWAY = "y = 0;\nfor i in range(100000) { for j in range(100000) { y = i * j; } }"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("served")
    (root / "mine.rasp").write_text(MINE)
    for folder in ("a/b/c", ".hidden", "node_modules/pkg"):
        (root / folder).mkdir(parents=True)
    (root / "binary.rasp").write_bytes(b"x = tokens;\n\xff\xfe not text\n")
    for name in ("a/b/two_down.rasp", "a/b/c/three_down.rasp", ".hidden/secret.rasp", "node_modules/pkg/x.rasp"):
        (root / name).write_text("x = tokens;\n")
    return root


@pytest.fixture(scope="module")
def client(served: Path) -> Iterator[TestClient]:
    settings = Settings(served, PORT, TOKEN, served / "mine.rasp", Limits(time_limit=2.0), compile_time_limit=60)
    with TestClient(create_app(settings), base_url=BASE, follow_redirects=False) as test_client:
        yield test_client


def evaluate(client: TestClient, source: str, **headers: str) -> object:
    return client.post("/api/evaluate", json={"source": source, "input": "abc"}, headers={**AUTH, **headers})


def test_the_page_needs_the_token(client: TestClient) -> None:
    refused = client.get("/")
    assert refused.status_code == 403 and "carries the token" in refused.text
    assert client.get("/?token=wrong").status_code == 403
    opened = client.get(f"/?token={TOKEN}")
    assert opened.status_code == 200 and "<html" in opened.text.lower()
    cookie = opened.headers["set-cookie"]
    assert f"rasp-playground-{PORT}={TOKEN}" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert client.cookies.get(f"rasp-playground-{PORT}") == TOKEN  # kept by the client, as a browser does
    page = client.get("/")
    client.cookies.clear()  # the other tests say who they are themselves
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert "default-src 'self'" in page.headers["content-security-policy"]
    # the first program and its values come inside the page, as data no browser runs
    block = re.search(r'<script type="application/json" id="initial-program">(.*?)</script>', page.text, re.S)
    assert block is not None and page.text.count("</script>") == 2  # the page's module and this block
    embedded = json.loads(block.group(1))
    assert embedded["source"] == MINE and embedded["evaluation"]["values"][0]["values"] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    "headers, reason",
    [
        ({"authorization": "token nope"}, "no valid token"),
        ({"host": "attacker.example:8765"}, "host"),  # DNS rebinding: the right token, the wrong name
        ({"host": "127.0.0.1:9999"}, "host"),
        ({"origin": "http://attacker.example"}, "another site"),
        ({"origin": "null"}, "another site"),
        ({"sec-fetch-site": "cross-site"}, "cross-site"),
    ],
)
def test_requests_from_elsewhere_are_refused(client: TestClient, headers: dict, reason: str) -> None:
    answer = evaluate(client, "x = tokens;", **headers)
    assert answer.status_code == 403 and reason in answer.json()["error"]["message"]


def test_the_pages_own_requests_are_served(client: TestClient) -> None:
    answer = evaluate(client, "x = tokens;", origin=BASE, **{"sec-fetch-site": "same-origin"})
    assert answer.status_code == 200 and answer.json()["values"][0]["values"] == ["a", "b", "c"]
    assert client.get("/api/famous", headers=AUTH).json()["machines"][0]["spec"] == "1RB1LB_1LA1RZ"


def test_a_runaway_program_is_stopped_and_the_server_lives_on(client: TestClient) -> None:
    stopped = evaluate(client, RUNAWAY)
    error = stopped.json()["error"]
    assert stopped.status_code == 422 and error["stopped"] and "time limit of 2 s" in error["message"]
    assert evaluate(client, "x = indices;").json()["values"][0]["values"] == [0, 1, 2]


def test_a_program_out_of_memory_is_told_and_the_server_lives_on(client: TestClient) -> None:
    answer = evaluate(client, "big = [i for i in range(10000000000)];").json()
    assert any("memory" in error["message"] for error in answer["errors"])
    assert evaluate(client, "x = indices;").status_code == 200


@pytest.mark.parametrize(
    "body, content_type, status",
    [(b"{", "application/json", 400), (b"[1]", "application/json", 400), (b"{}", "text/plain", 415),
     (b"{" + b" " * MAX_BODY + b"}", "application/json", 413),
     (b"[" * 500_000 + b"]" * 500_000, "application/json", 400)],  # deeper than Python's json recurses
)
def test_malformed_requests_are_refused(client: TestClient, body: bytes, content_type: str, status: int) -> None:
    answer = client.post("/api/evaluate", content=body, headers={**AUTH, "content-type": content_type})
    assert answer.status_code == status and answer.json()["error"]["message"]


@pytest.mark.parametrize(
    "path, request_body, message",
    [
        ("/api/evaluate", {"source": 5, "input": "ab"}, "source must be text, not int 5"),
        ("/api/evaluate", {"source": "x = tokens;", "input": None}, "input must be text"),
        ("/api/evaluate", {"source": "x = tokens;", "causal": "yes"}, "causal must be true or false"),
        ("/api/draw", {"source": "x = tokens;", "name": ["x"]}, "name must be text"),
        ("/api/turing/run", {"spec": "1RB1LB_1LA1RZ", "engine": ["x"]}, "engine must be text"),
        ("/api/turing/verify", {"engine": 3}, "engine must be text"),
    ],
)
def test_fields_of_the_wrong_type_are_refused_by_name(
    client: TestClient, path: str, request_body: dict, message: str
) -> None:
    answer = client.post(path, json=request_body, headers=AUTH)
    if path.endswith("verify"):  # a stream: its error is its last line
        assert answer.status_code == 200 and message in json.loads(answer.text.splitlines()[-1])["error"]["message"]
    else:
        assert answer.status_code == 422 and message in answer.json()["error"]["message"]


def test_the_library_lists_the_shipped_and_served_programs(client: TestClient) -> None:
    names = {entry["name"] for entry in client.get("/api/library", headers=AUTH).json()["programs"]}
    assert {"lib/sort.rasp", "stdlib.rasp", "examples/hello.rasp", "served:mine.rasp"} <= names
    # two folders down at most, hidden and installed folders left out
    served = {name for name in names if name.startswith("served:")}
    assert served == {"served:mine.rasp", "served:binary.rasp", "served:a/b/two_down.rasp"}
    binary = client.get("/api/program", params={"name": "served:binary.rasp"}, headers=AUTH)
    assert binary.status_code == 422 and "not UTF-8 text (byte 12)" in binary.json()["error"]["message"]
    sort = client.get("/api/program", params={"name": "lib/sort.rasp"}, headers=AUTH).json()
    assert "sorted" in sort["source"] and json.loads(sort["input"])
    for name in ("../../etc/passwd", "served:../outside.rasp", "/etc/passwd"):
        assert client.get("/api/program", params={"name": name}, headers=AUTH).status_code == 404
    initial = client.get("/api/initial", headers=AUTH).json()
    assert initial["name"] == "served:mine.rasp" and initial["input"] == "hello"
    assert initial["evaluation"]["values"] == [{"name": "mine", "kind": "sop", "values": [1, 2, 3, 4, 5]}]


def test_a_compile_offers_its_weights(client: TestClient, tmp_path: Path) -> None:
    request = {"source": "rev = aggregate(select(indices, length - indices - 1, ==), tokens);", "name": "rev",
               "vocab": "a,b", "max_len": 4, "input": "aab", "attention": "hard", "check": 20}
    answer = client.post("/api/compile", json=request, headers=AUTH).json()
    assert answer["check"]["passed"] and answer["outputs"]["model"] == ["b", "a", "a"]
    import compiler

    for kind, url in answer["downloads"].items():
        file = tmp_path / f"model.{kind}"
        file.write_bytes(client.get(url, headers=AUTH).content)
        assert compiler.load(file)(list("abb")) == list("bba")
    job = answer["downloads"]["npz"].split("/")[3]
    wrong = (f"/api/download/{job}/other.npz", "/api/download/..%2F..%2Fetc/passwd", f"/api/download/{job}x/model.npz")
    for url in wrong:
        assert client.get(url, headers=AUTH).status_code == 404


def test_a_compile_the_compiler_refuses_is_told_by_name(client: TestClient) -> None:
    request = {"source": "x = tokens + 1;", "name": "x", "vocab": "1,2", "max_len": 4, "input": "", "check": 0}
    answer = client.post("/api/compile", json=request, headers=AUTH)
    assert answer.status_code == 422 and not answer.json()["error"]["stopped"]


def test_verify_streams_its_progress(client: TestClient) -> None:
    request = {"states": 2, "symbols": 2, "count": 5, "max_steps": 10, "engine": "reference"}
    with client.stream("POST", "/api/turing/verify", json=request, headers=AUTH) as answer:
        lines = [json.loads(line) for line in answer.iter_lines() if line]
    assert [line["progress"] for line in lines[:-1]] == [0, 1, 2, 3, 4, 5]
    assert lines[-1]["result"]["machines"] == lines[-1]["result"]["matching"] == 5


def test_a_bad_machine_is_told_not_crashed(client: TestClient) -> None:
    answer = client.post("/api/turing/run", json={"spec": "1RB1LB_1LA", "max_steps": 5}, headers=AUTH)
    assert answer.status_code == 422 and "group" in answer.json()["error"]["message"]


def test_a_worker_process_that_dies_is_started_again(client: TestClient) -> None:
    """Killed from outside while a job runs: that job is answered with an error, and the next
    one gets a fresh worker process."""
    workers = client.app.state.workers
    killer = threading.Timer(1.0, lambda: os.kill(workers.process.pid, signal.SIGKILL))
    killer.start()
    answer = evaluate(client, RUNAWAY)
    killer.join()
    assert answer.status_code == 422 and "worker process ended" in answer.json()["error"]["message"]
    assert evaluate(client, "x = indices;").json()["values"][0]["values"] == [0, 1, 2]


# ------------------------------------------------------------------------------ rasp serve


def test_serve_refuses_a_port_in_use_and_a_file_outside_its_folder(tmp_path: Path, capsys) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        assert main(["serve", "--no-browser", "--port", str(taken.getsockname()[1])]) == 2
    assert "--port 0" in capsys.readouterr().err
    (tmp_path / "inside").mkdir()
    (tmp_path / "outside.rasp").write_text("x = tokens;")
    argv = ["serve", "--no-browser", "--port", "0", "--root", str(tmp_path / "inside"), str(tmp_path / "outside.rasp")]
    assert main(argv) == 2
    assert "outside the served folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    "options, message",
    [
        (["--port", "70000"], "--port must be from 0 to 65535"),
        (["--time-limit", "0"], "--time-limit must be from 0 to 3600"),
        (["--compile-time-limit", "1e9"], "--compile-time-limit must be from 0 to 3600"),
        (["--memory-limit", "0.1"], "--memory-limit must be from 0.25"),
        (["--root", "no/such/folder"], "no such folder"),
        (["no-such-file.rasp"], "no such file"),
        (["binary.rasp"], "not UTF-8 text"),
    ],
)
def test_serve_refuses_bad_options_by_name(tmp_path: Path, monkeypatch, capsys, options: list, message: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "binary.rasp").write_bytes(b"\xff\xfe")
    assert main(["serve", "--no-browser", "--port", "0", *options]) == 2
    assert message in capsys.readouterr().err


def test_serve_without_the_web_extra_says_how_to_install_it(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if it were not installed
    assert main(["serve", "--no-browser", "--port", "0"]) == 2
    assert "pip install 'rasp-toolkit[web]'" in capsys.readouterr().err


def forkserver_children(root: Path) -> list[str]:
    """The jobs running in the worker process of the server serving `root` (Linux's /proc)."""
    for status in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = status.read_bytes().split(b"\0")
        except OSError:  # a process that ended meanwhile
            continue
        if b"rasp_toolkit.playground.forkserver" in command and str(root).encode() in command:
            pid = status.parent.name
            return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    raise AssertionError(f"no worker process serves {root}")


@pytest.mark.slow
def test_serve_on_loopback_with_a_token_kills_the_jobs_nobody_waits_for(tmp_path: Path) -> None:
    """`rasp serve` as a user starts it: a random token in the printed address, refused without
    it; a job whose page stopped waiting (an evaluation of text since edited) is killed at once,
    not at its time limit."""
    with headless.served(tmp_path) as url:
        assert url.startswith("http://127.0.0.1:") and "/?token=" in url
        base, token = url.split("/?token=")
        assert len(token) >= 24
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(base + "/api/library", timeout=30)
        assert refused.value.code == 403
        request = urllib.request.Request(base + "/api/library", headers={"authorization": f"token {token}"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert json.load(answer)["programs"]
        body = json.dumps({"source": RUNAWAY, "input": "ab"}).encode()
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as connection:
            connection.sendall(
                f"POST /api/evaluate HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: token {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
            )
            deadline = time.monotonic() + 5
            while not forkserver_children(tmp_path) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(forkserver_children(tmp_path)) == 1  # the runaway evaluation
        left = time.monotonic()  # the page went away
        while forkserver_children(tmp_path) and time.monotonic() < left + 5:
            time.sleep(0.05)
        assert forkserver_children(tmp_path) == []  # killed long before the 10 s time limit
