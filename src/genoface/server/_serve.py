"""Starting the application under uvicorn, with the binding rules: loopback by default; any other
address only with a token, and a warning."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genoface.core.errors import GenofaceError
from genoface.server._app import ServerSettings, create_app


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_binding(settings: ServerSettings) -> list[str]:
    """Warnings for the binding; an error when a non-loopback address has no token."""
    if is_loopback(settings.host):
        return []
    if not settings.token:
        raise GenofaceError(
            f"--host {settings.host} exposes genomes beyond this machine: give --token (e.g. "
            f"--token {secrets.token_urlsafe(16)}), which every request must then carry"
        )
    return [
        f"serving on {settings.host}, reachable from other machines: every request needs the token; "
        "use HTTPS in front of it (a reverse proxy) on any network you do not trust"
    ]


def address(settings: ServerSettings) -> str:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    url = f"http://{host}:{settings.port}/"
    return url + (f"?token={settings.token}" if settings.token else "")


#: How ``serve`` hands its settings to the processes uvicorn starts (each builds its own app).
_SETTINGS_ENV = "GENOFACE_SERVE_SETTINGS"


def serve(settings: ServerSettings, say: Callable[[str], None] = print) -> None:
    """Load the models and the cohort, print the address, and serve until interrupted. With
    ``settings.processes`` above 1, uvicorn runs that many server processes on the one port, each
    with the models loaded and its own worker pool: a request's pure-Python work (reading a
    genome file) holds one process's interpreter, so one process uses about one core."""
    import uvicorn

    for warning in check_binding(settings):
        say(f"warning: {warning}")
    if settings.processes < 1:
        raise GenofaceError(f"--processes must be at least 1, got {settings.processes}")
    app = create_app(settings)  # loads everything once here: a bad model or cohort fails now
    say(f"genoface serve: open {address(settings)}  (Ctrl+C stops it)")
    # No access log: request paths name samples, and nothing about a person is logged.
    options = {"host": settings.host, "port": settings.port, "log_level": "warning", "access_log": False}
    if settings.processes == 1:
        uvicorn.run(app, **options)
        return
    del app
    os.environ[_SETTINGS_ENV] = json.dumps(dataclasses.asdict(settings), default=str)
    uvicorn.run(f"{__name__}:app_from_environment", factory=True, workers=settings.processes, **options)


def app_from_environment() -> Any:
    """The application of one of ``serve``'s processes, from the settings it left in the environment."""
    fields = json.loads(os.environ[_SETTINGS_ENV])
    fields["models"] = [Path(m) for m in fields["models"]]
    fields["cohort"] = None if fields["cohort"] is None else Path(fields["cohort"])
    return create_app(ServerSettings(**fields))
