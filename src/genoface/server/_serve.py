"""Starting the application under uvicorn, with the binding rules: loopback by default; any other
address only with a token, and a warning."""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Callable

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


def serve(settings: ServerSettings, say: Callable[[str], None] = print) -> None:
    """Load the models and the cohort, print the address, and serve until interrupted."""
    import uvicorn

    for warning in check_binding(settings):
        say(f"warning: {warning}")
    app = create_app(settings)
    say(f"genoface serve: open {address(settings)}  (Ctrl+C stops it)")
    # No access log: request paths name samples, and nothing about a person is logged.
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", access_log=False)
