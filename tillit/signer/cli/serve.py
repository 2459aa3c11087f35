"""`tillit-signer serve` and `config`: running the daemon and its settings (`tls issue`: cli/tls.py)."""

from __future__ import annotations

import contextlib
import errno
import importlib.metadata
import logging
import resource
import signal
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import click

from tillit.config import ConfigError
from tillit.hsm.ca import RENEW_WITHIN
from tillit.hsm.settings import HsmSettings, held_lock_file
from tillit.signer.logs import configure_logging
from tillit.signer.runtime import check_public_url, open_signer
from tillit.signer.service import Signer
from tillit.signer.settings import SignerSettings, documented_toml, effective_toml
from tillit.signer.store.sqlite import SqliteStore


@click.command()
@click.option("--host", default=None, help="Listen address (default from settings: 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default from settings: 8700).")
def serve(host: str | None, port: int | None) -> None:
    """Run the HTTP API under uvicorn."""
    import uvicorn  # the web server and the routes only for serve: the other commands start without them

    from tillit.signer.http.app import create_app  # as uvicorn: FastAPI is loaded by serve alone
    from tillit.signer.http.protocol import timely_heads
    from tillit.signer.http.server import DrainingServer

    updates = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings = SignerSettings().model_copy(update=updates)
    configure_logging(settings.log_json)
    exit_on_sigterm()
    log = logging.getLogger("tillit.signer")
    open_files = raise_open_file_limit()
    # The port first: one in use ends here, before the HSM or the store is opened.
    listening = listen(settings.host, settings.port)
    rp_listening = listen(settings.host, settings.rp_port, "TILLIT_RP_PORT") if settings.rp_port else None
    with (
        listening,
        rp_listening or contextlib.nullcontext(),
        open_signer(settings) as signer,
        contextlib.ExitStack() as held,
    ):
        check_public_url(signer)
        signer.hsm.check_capabilities()  # one line naming what the module lacks (docs/hsm.md)
        if not signer.store.shared:  # after the checks of this daemon's own settings and module
            held.enter_context(sole_server(settings.home))
        # Every key handle and certificate in one enumeration, in the background: no order searches
        # the token (linear in its objects). Lookups wait for it while it loads (about a second at
        # 10,000 customers); /healthz reports it as keyIndex.
        signer.hsm.start_preload()
        signer.context.seals.ensure()  # a store from before seals is sealed once, before any request
        signer.recover()
        signer.tokens.jwks()
        app = create_app(signer)
        ssl: dict[str, Any] = {}
        if settings.tls_cert and settings.tls_key:
            ssl = {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)}
        scheme = "https" if ssl else "http"
        started = what_serves(signer)
        log.info(
            "serving on %s://%s:%d: Tillit %s, instance %s, HSM %s on %s, store %s",
            scheme,
            settings.host,
            settings.port,
            started["version"],
            started["instance"],
            started["token"],
            started["module"],
            started["store"],
            extra={"tillit_event": "serve.start", **{f"tillit_{k}": v for k, v in started.items()}},
        )
        log.info("open files allowed: %d", open_files, extra={"tillit_event": "serve.open_files"})
        warn_of_the_cas_end(signer)
        # No proxy headers: nothing here reads the client's address or scheme, and uvicorn's layer
        # for them would be one more pass over every request's headers.
        late_head = {"error": "requestTimeout", "reason": "the request's head did not all arrive in time"}
        big_head = {
            "error": "headTooLarge",
            "reason": f"the request's line and headers are longer than {settings.request_head_bytes} bytes",
        }
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            http=timely_heads(settings.request_head_seconds, settings.request_head_bytes, late_head, big_head),
            log_config=None,
            access_log=False,
            proxy_headers=False,
            timeout_graceful_shutdown=settings.shutdown_grace_seconds,
            **ssl,
        )
        server = DrainingServer(config, signer.notifier)
        try:
            if rp_listening is None:
                server.run(sockets=[listening])
            else:
                # The RP face's TLS server beside the main one: loaded by serve alone, as uvicorn is.
                from tillit.signer.http import rp_server

                rp = rp_server.companion(signer, server, host=settings.host, port=settings.rp_port)
                log.info("RP API face on https://%s:%d/rp/v6.0/", settings.host, settings.rp_port)
                rp_server.serve_both(server, [listening], rp, [rp_listening])
        finally:  # also at SIGTERM (`exit_on_sigterm`) and Ctrl-C
            log.info("stopped", extra={"tillit_event": "serve.stop"})


def exit_on_sigterm() -> None:
    """Make SIGTERM end `serve` with exit status 0 through Python's unwinding (SystemExit), so that
    the "stopped" line is written and the store and the HSM sessions are closed. uvicorn answers
    SIGTERM with a graceful shutdown and then raises the signal again under the handler it found at
    start: by default that killed the process on the spot, past every `finally`. A second SIGTERM
    during the unwinding kills at once."""
    if threading.current_thread() is not threading.main_thread():
        return  # signals reach the main thread alone (a test calling `serve` in a thread)

    def stop(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)


def warn_of_the_cas_end(signer: Signer) -> None:
    """A warning at start when the root's or the TSA's certificate ends within `RENEW_WITHIN`, naming
    the command that renews them (`tillit_certificate_expiry_timestamp_seconds` for alerts)."""
    ends = {
        "root": signer.ca.root_certificate().not_valid_after,
        "TSA": signer.context.tsa.certificate().not_valid_after,
    }
    soon = {name: end for name, end in ends.items() if end - datetime.now(UTC) < RENEW_WITHIN}
    if soon:
        said = " and ".join(f"the {name}'s certificate ends {end:%Y-%m-%d}" for name, end in soon.items())
        logging.getLogger("tillit.signer").warning(
            "%s: renew the CA now (tillit-hsm ca renew --years N, then restart each instance)",
            said,
            extra={"tillit_event": "serve.ca_ends_soon"},
        )


def what_serves(signer: Signer) -> dict[str, str]:
    """What the start line names: Tillit's version, the instance id, the PKCS#11 module and the
    token as configured (label or serial), and the store (never a password)."""
    hsm = signer.hsm.settings
    try:
        version = importlib.metadata.version("tillit")
    except importlib.metadata.PackageNotFoundError:
        version = "(version unknown: not installed)"
    return {
        "version": version,
        "instance": signer.context.instance,
        "module": hsm.module_path,
        "token": f"token serial {hsm.token_serial}" if hsm.token_serial else f"token '{hsm.token_label}'",
        "store": store_name(signer),
    }


def store_name(signer: Signer) -> str:
    """The SQLite file, or `PostgreSQL user@host:port/dbname` from the URL's parameters: never its
    password, which may be in the user part (`user:password@`) or a parameter (`?password=`)."""
    if isinstance(signer.store, SqliteStore):
        return f"SQLite {signer.store.path}"
    from psycopg.conninfo import conninfo_to_dict  # loaded already: the store is PostgreSQL's

    url = signer.settings.database_url or ""
    params = conninfo_to_dict(url)
    user = f"{params['user']}@" if params.get("user") else ""
    host = str(params.get("host") or "(local socket)")
    port = f":{params['port']}" if params.get("port") else ""
    return f"PostgreSQL {user}{host}{port}/{params.get('dbname', '')}"


@contextlib.contextmanager
def sole_server(home: Path) -> Iterator[None]:
    """Hold home/serve.lock while serving the SQLite database: one daemon per SQLite home. A second
    one would share the first's instance id (and so its orders' leases), keep rate windows of its own,
    and never wake the phones long-polling the first. Several instances need PostgreSQL."""
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(held_lock_file(home / "serve.lock", wait=False))
        except BlockingIOError:
            raise ConfigError(
                f"another tillit-signer serves {home} already: one daemon per SQLite database (several"
                " instances need PostgreSQL: TILLIT_DATABASE_URL, docs/operations.md)"
            ) from None
        yield


def raise_open_file_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit; the limit now in force.

    Every connection is a file. systemd starts services with a soft limit of 1,024 (the hard one is
    far higher), which a few hundred slow clients would use up; the request deadlines
    (`signer.http.protocol`, `BodyDeadline`) bound how long each is held, this how many. Go's runtime
    does the same at start. A system without the limit (or one that refuses) keeps what it has."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # An unlimited soft limit is refused (the kernel's nr_open caps it): take 2^20 there.
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(OSError, ValueError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def listen(host: str, port: int, choose: str = "--port or TILLIT_PORT") -> socket.socket:
    """A TCP socket bound to host and port for `serve` (uvicorn listens on it); ConfigError, one
    line naming the setting to `choose` another port with, when the port is taken or the address is
    not this machine's."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    where = f"port {port} on {host}"
    try:
        # As uvicorn binds: SO_REUSEADDR, so that a restart need not wait for TIME_WAIT to pass.
        return socket.create_server((host, port), family=family)
    except OverflowError:
        raise ConfigError(f"port {port} is no TCP port (1-65535): set {choose}") from None
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            reason = f"{where} is in use (another tillit-signer?): stop it, or choose another: {choose}"
        elif e.errno == errno.EACCES:
            reason = f"{where}: permission denied (ports below 1024 need privileges): choose {choose}"
        elif e.errno == errno.EADDRNOTAVAIL or isinstance(e, socket.gaierror):
            reason = f"cannot listen on {host}: not an address of this machine: set --host or TILLIT_HOST"
        else:
            reason = f"cannot listen on {where}: {e.strerror}"
        raise ConfigError(reason) from None


@click.command("config")
@click.option("--defaults", is_flag=True, help="Every setting with its meaning and default, commented out.")
def config(defaults: bool) -> None:
    """Print the settings in effect (defaults, the file, TILLIT_* variables) as TOML, each value set
    by the file or a variable with which; refuses, in one line, a configuration with a mistake.
    With --defaults: a documented configuration file with every setting and its default."""

    if defaults:
        click.echo(documented_toml(), nl=False)
        return
    settings = SignerSettings()
    click.echo(effective_toml(settings, HsmSettings(home=settings.home)), nl=False)
