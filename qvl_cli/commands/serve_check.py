"""``qvl serve-check``: is the OpenAI-compatible server up, and what does it serve?"""

from __future__ import annotations

import sys

from qvl_cli.backends.openai_server import NO_KEY, server_error
from qvl_cli.errors import EXIT_VALID
from qvl_cli.settings.declare import SettingsError
from qvl_cli.settings.urls import server_url_problem


def check_server(base_url: str, api_key: str | None, timeout: float, where: str = "--base-url") -> int:
    """Ask the server at ``base_url`` (given as ``where`` says: the flag or the variable) for its models."""
    import openai

    if problem := server_url_problem(base_url):
        raise SettingsError(problem, where=where)

    client = openai.OpenAI(base_url=base_url, api_key=api_key or NO_KEY, timeout=timeout, max_retries=0)
    try:
        models = [model.id for model in client.models.list()]
    except Exception as exc:  # the client's own errors, mapped to one message
        raise server_error(base_url, exc) from None
    sys.stdout.write(f"{base_url}: reachable, serving {len(models)} model{'s' * (len(models) != 1)}\n")
    for name in models:
        sys.stdout.write(f"  {name}\n")
    return EXIT_VALID
