"""Start and stop a real vLLM OpenAI-compatible server on 127.0.0.1 (tests and benchmarks)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

STRUCTURED_OUTPUTS = '{"backend": "guidance", "disable_any_whitespace": true}'


class ServerFailed(RuntimeError):
    """vLLM exited or did not answer in time; the message ends with its log."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_vllm(python: str, model: str, log: Path, timeout: float = 420) -> tuple[subprocess.Popen[bytes], str]:
    """A running server for ``model`` (CPU, float32) and its base URL."""
    port = free_port()
    command = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", model, "--host", "127.0.0.1",
               "--port", str(port), "--dtype", "float32", "--enforce-eager", "--max-model-len", "4096",
               "--structured-outputs-config", STRUCTURED_OUTPUTS]  # fmt: skip
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise ServerFailed(f"vLLM exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop(process)
            raise ServerFailed(f"vLLM did not start in {timeout:.0f} s:\n{log.read_text()[-3000:]}")
        time.sleep(2)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
