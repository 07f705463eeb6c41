"""``veil serve``: review, correct and render in a browser, on this machine only.

:func:`serve` starts the FastAPI app of :mod:`.app` with uvicorn, bound to
localhost by default, and prints a URL carrying a random token (as Jupyter
does). The jobs, the project edits and the render run the same Engine and
project code as the CLI (:mod:`veil.project`).
"""

from __future__ import annotations

import logging
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

from ..errors import ConfigError
from ..settings import Settings

log = logging.getLogger(__name__)

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def page_url(host: str, port: int, token: str) -> str:
    """The URL to open: the token rides in the fragment, which browsers never send."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/#token={token}"


def allowed_hosts(host: str, port: int) -> list[str] | None:
    """The ``Host``/``Origin`` names a server bound to ``host`` answers to; None for a
    server bound to every interface (its names are not known: only the token guards)."""
    if host in ("0.0.0.0", "::", ""):
        return None
    names = {"127.0.0.1", "localhost", "[::1]", f"[{host}]" if ":" in host else host}
    out = [f"{n}:{port}" for n in names]
    return out + sorted(names) if port == 80 else out


def serve(
    folder: Path,
    host: str = "127.0.0.1",
    port: int = 8765,
    allow_remote: bool = False,
    max_upload: int = 2 * 1024**3,
    workers: int = 1,
    settings: Settings | None = None,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Run the server until interrupted; every job's files are removed on the way out."""
    try:
        import uvicorn
    except ImportError:  # pragma: no cover - depends on the install
        raise ConfigError("veil serve needs the web extra: pip install 'veil[web]'") from None
    from .app import create_app
    from .jobs import JobManager

    if not folder.is_dir():
        raise ConfigError(f"{folder}: not a folder")
    if host not in LOCAL_HOSTS and not allow_remote:
        raise ConfigError(
            f"--host {host}: other machines could reach the server; add --allow-remote "
            "if that is what you want"
        )
    token = secrets.token_urlsafe(24)
    manager = JobManager(folder, settings, workers=workers, max_upload=max_upload)
    app = create_app(manager, token, allowed_hosts(host, port))
    say = announce or (lambda text: sys.stderr.write(text + "\n"))
    if host not in LOCAL_HOSTS:
        say(
            f"veil: warning: serving on {host}: anyone who can reach this address and has "
            "the token can see and change your files"
        )
    url = page_url(host, port, token)
    say(f"veil: serving; open this URL in a browser on this machine:\n    {url}")
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=False,  # request lines would carry job ids and frame numbers
        log_level="warning",
        server_header=False,
    )
    # after uvicorn.Config: it configures logging and replaces uvicorn's handlers
    handlers = redact_logs(manager.log_filter)
    try:
        uvicorn.Server(config).run()
    finally:
        manager.shutdown()  # idempotent; also when the port was taken
        for handler in handlers:
            handler.removeFilter(manager.log_filter)


def redact_logs(log_filter: logging.Filter) -> list[logging.Handler]:
    """Put ``log_filter`` on every handler a server's log line can reach; returns them."""
    names = ("", "veil", "uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
    handlers = {h for n in names for h in logging.getLogger(n).handlers}
    if logging.lastResort is not None:  # where records go when no handler is set
        handlers.add(logging.lastResort)
    for handler in handlers:
        handler.addFilter(log_filter)
    return list(handlers)
