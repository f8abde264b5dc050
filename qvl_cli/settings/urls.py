"""Whether a server address can be one: checked before any request, so a typo is a usage error."""

from __future__ import annotations

from urllib.parse import urlsplit

EXAMPLE = "http://127.0.0.1:8000/v1"


def server_url_problem(url: str) -> str | None:
    """What is wrong with ``url`` as an OpenAI-compatible server's address, or ``None``: it needs
    http:// or https://, a host, a port that can be one, and no spaces."""
    shown = repr(url)
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        return f"{shown} is not a server URL: it must start with http:// or https://, e.g. {EXAMPLE}"
    if any(ch.isspace() for ch in url.strip()):
        return f"{shown} is not a server URL: it has a space in it"
    if not parts.hostname:
        return f"{shown} is not a server URL: it names no host, e.g. {EXAMPLE}"
    try:
        parts.port  # noqa: B018 (raises on a port that cannot be one)
    except ValueError:
        return f"{shown} is not a server URL: its port is not a number from 0 to 65535, e.g. {EXAMPLE}"
    return None
