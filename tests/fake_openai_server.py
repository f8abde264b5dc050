"""A scriptable OpenAI-compatible server on 127.0.0.1 for testing error paths.

Each POST to /v1/chat/completions takes the next scripted behaviour: ``("ok", text)``,
``("status", code)``, ``("slow", seconds, text)``, ``("wait", n, text)`` (answers once ``n`` more
requests have arrived, or after 10 s; ``released`` says which), ``("truncated",)`` (headers promise
more bytes than are sent) or ``("garbage",)`` (not JSON). With the script empty it answers "{}".
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "fake-qwen2-vl"


def completion(text: str) -> dict[str, Any]:
    tokens = [text[i : i + 3] for i in range(0, len(text), 3)]
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": text},
                "logprobs": {
                    "content": [{"token": t, "logprob": -0.1, "bytes": None, "top_logprobs": []} for t in tokens]
                },
            }
        ],
        "usage": {"prompt_tokens": 100, "completion_tokens": len(tokens), "total_tokens": 100 + len(tokens)},
    }


class FakeOpenAIServer:
    def __init__(self) -> None:
        self.script: deque[tuple[Any, ...]] = deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)  # notified on each request
        self.released: list[bool] = []  # per "wait" step: True when the awaited requests came
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _send(self, code: int, body: bytes, length: int | None = None) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(length if length is not None else len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model"}]}).encode())
                else:
                    self._send(404, b'{"error": {"message": "not found"}}')

            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server.lock:
                    server.requests.append(body)
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                    step = server.script.popleft() if server.script else ("ok", "{}")
                    server.arrived.notify_all()
                    if step[0] == "wait":
                        wanted = len(server.requests) + step[1]
                        server.released.append(server.arrived.wait_for(lambda: len(server.requests) >= wanted, 10))
                kind = step[0]
                if kind == "status":
                    self._send(step[1], json.dumps({"error": {"message": f"scripted {step[1]}"}}).encode())
                elif kind == "slow":
                    time.sleep(step[1])
                    self._send(200, json.dumps(completion(step[2])).encode())
                elif kind == "truncated":
                    data = json.dumps(completion("{}")).encode()
                    self._send(200, data[: len(data) // 2], length=len(data))
                elif kind == "garbage":
                    self._send(200, b"<html>not json</html>")
                else:  # "ok" and "wait"
                    self._send(200, json.dumps(completion(step[-1])).encode())

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
