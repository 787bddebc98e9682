"""The service against hostile clients and bad options (issue 13: timeouts, empty API
key, uvicorn's own 400s, OpenAPI security, local /docs, option checks)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

pytest.importorskip("fastapi", reason="the service needs the serve extra (fastapi)")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")

import uvicorn
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.requests import ClientDisconnect

from serkit import ParameterError
from serkit.cli import main
from serkit.service import ServiceSettings, create_app
from serkit.service._protocol import TimedH11Protocol

pytestmark = pytest.mark.floors  # run at the lowest versions too (.ci/min_versions.sh)


# ------------------------------------------------------------------ API key and options
@pytest.mark.parametrize("key", ["", "   ", "\t"])
def test_blank_api_key_is_refused_not_ignored(key):
    with pytest.raises(ParameterError, match="empty or only whitespace"):
        ServiceSettings(api_key=key)
    with pytest.raises(ParameterError, match="empty or only whitespace"):
        ServiceSettings.from_env({"SERKIT_API_KEY": key})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--api-key", ""], "empty or only whitespace"),
        (["--max-upload-mb", "0"], "--max-upload-mb must be"),
        (["--max-upload-mb", "-5"], "--max-upload-mb must be"),
        (["--port", "70000"], "--port must be between 0 and 65535"),
        (["--headers-timeout", "0"], "headers_timeout must be"),
    ],
)
def test_serve_refuses_bad_options_in_one_line(argv, message, capsys):
    assert main(["serve", *argv]) != 0
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_serve_refuses_a_blank_key_from_the_environment(monkeypatch, capsys):
    monkeypatch.setenv("SERKIT_API_KEY", "  ")
    assert main(["serve"]) != 0
    assert "empty or only whitespace" in capsys.readouterr().err


def test_openapi_declares_the_key_and_docs_are_local(tmp_path):
    app = create_app(tmp_path / "no-model", settings=ServiceSettings(api_key="k"))
    schema = app.openapi()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": schemes["APIKeyHeader"]["description"],
    }
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    assert {"APIKeyHeader": []} in schema["paths"]["/v1/predict"]["post"]["security"]
    client = TestClient(app)  # no lifespan: the model is not needed for these
    page = client.get("/docs")
    assert page.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    # no ReDoc page: FastAPI's own would load its script from a CDN
    assert client.get("/redoc").json()["error"]["code"] == "not_found"


# ------------------------------------------------------------------ timeouts (real server)
def _app(events: list[str]) -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        try:
            body = await request.body()
        except ClientDisconnect:
            events.append("disconnect")
            raise
        return {"n": len(body)}

    return app


@contextmanager
def _server(events: list[str], timeouts: tuple[float, float] = (1.0, 1.0)) -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    TimedH11Protocol._timeouts = timeouts
    config = uvicorn.Config(
        _app(events), port=port, http=TimedH11Protocol, timeout_keep_alive=1, log_level="error"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)
        TimedH11Protocol._timeouts = None


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Read until the server closes; True when it did within ``seconds``."""
    sock.settimeout(seconds)
    got = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True, got
            got += chunk
    except TimeoutError:
        return False, got
    except ConnectionResetError:
        return True, got


def test_silent_slow_headers_slow_body_and_idle_connections_are_dropped():
    events: list[str] = []
    with _server(events) as port:
        silent = socket.create_connection(("127.0.0.1", port))
        slow_headers = socket.create_connection(("127.0.0.1", port))
        slow_headers.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\n")
        slow_body = socket.create_connection(("127.0.0.1", port))
        slow_body.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + b"a" * 5000
        )
        idle = socket.create_connection(("127.0.0.1", port))
        idle.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab")
        for sock in (silent, slow_headers, slow_body):
            closed, _ = _closed_within(sock, 5)
            assert closed
            sock.close()
        closed, reply = _closed_within(idle, 5)
        assert closed and b'{"n":2}' in reply
        idle.close()
        time.sleep(0.2)
    assert events == ["disconnect"]  # the slow body's buffer was given up by the app


def test_a_steady_client_is_not_dropped():
    with _server([], timeouts=(10.0, 10.0)) as port:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n")
        for part in (b"ab", b"cd", b"ef"):
            time.sleep(0.2)
            sock.sendall(part)
        sock.settimeout(5)
        reply = b""
        while b'{"n":6}' not in reply:  # headers and body may come in separate reads
            chunk = sock.recv(65536)
            assert chunk, reply
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 200")
        sock.close()


def test_uvicorns_own_400_is_json():
    with _server([]) as port:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        closed, reply = _closed_within(sock, 5)
        sock.close()
    assert closed and reply.startswith(b"HTTP/1.1 400")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"application/json" in head
    assert json.loads(body)["error"]["code"] == "bad_request"
