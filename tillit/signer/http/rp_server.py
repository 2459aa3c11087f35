"""Serving the RP API face (`signer.http.rp_app`) beside the main app in the one `serve` process:
a second uvicorn server on `rp_port`, TLS with client certificates required, sharing the loop, the
worker pool and the `Signer` of the main one, and stopping when it stops.

- The handshake takes only client certificates the Tillit CA issued (`ssl_ca_certs` is its chain);
  which relying party a certificate belongs to, and whether it is revoked, the app decides per
  request (`routers.rp.relying_party`).
- uvicorn puts no TLS details into the ASGI scope, so `ClientCertificateProtocol` (uvicorn's
  httptools protocol, with the deadline on request heads of `signer.http.protocol`) adds the ASGI
  TLS extension's `client_cert_chain` from the connection's SSL object to every request on that
  connection.
- The server's own certificate is issued by the Tillit CA for `rp_hostnames` into home/rp-tls/ when
  it is missing or expires within `RENEW_BEFORE` (unless `rp_tls_cert` and `rp_tls_key` are set).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from asn1crypto import pem, x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.types import ASGIApp, Receive, Scope, Send

from tillit.signer.http.protocol import TimelyHeadsProtocol, timely_heads
from tillit.signer.http.rp_app import create_rp_app
from tillit.signer.service import Signer

RENEW_BEFORE = timedelta(days=7)
CERTIFICATE_DAYS = 365


class ClientCertificateProtocol(TimelyHeadsProtocol):
    """uvicorn's HTTP/1.1 protocol, adding to each request's scope the ASGI TLS extension with the
    connection's client certificate: scope["extensions"]["tls"]["client_cert_chain"], PEM."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        tls = {"client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [], "client_cert_error": None}
        app: ASGIApp = self.app

        async def with_tls(scope: Scope, receive: Receive, send: Send) -> None:
            scope["extensions"] = {**(scope.get("extensions") or {}), "tls": tls}
            await app(scope, receive, send)

        self.app = with_tls


class CompanionServer(uvicorn.Server):
    """A uvicorn server that runs beside `main`: no signal handlers of its own (the main server's
    stop it), and it stops when the main one does."""

    def __init__(self, config: uvicorn.Config, main: uvicorn.Server) -> None:
        super().__init__(config)
        self.main = main

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def on_tick(self, counter: int) -> bool:
        return await super().on_tick(counter) or self.main.should_exit


def server_files(signer: Signer) -> tuple[Path, Path, Path]:
    """The RP face's certificate chain and key (issued now if missing or about to expire) and the
    CA file for client certificates (the Tillit CA's chain)."""
    settings = signer.settings
    folder = settings.home / "rp-tls"
    folder.mkdir(mode=0o700, exist_ok=True)
    clients_ca = folder / "clients-ca.pem"
    clients_ca.write_text(signer.ca.chain_pem())
    if settings.rp_tls_cert and settings.rp_tls_key:
        return settings.rp_tls_cert, settings.rp_tls_key, clients_ca
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    if not _usable(cert_path) or not key_path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        spki = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        names = [name.strip() for name in settings.rp_hostnames.split(",") if name.strip()]
        cert = signer.ca.issue_server_certificate(spki, names, CERTIFICATE_DAYS)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(
                key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
        cert_path.write_bytes(b"".join(pem.armor("CERTIFICATE", c.dump()) for c in [cert, *signer.ca.chain()]))
    return cert_path, key_path, clients_ca


def _usable(cert_path: Path) -> bool:
    if not cert_path.exists():
        return False
    _, _, der = pem.unarmor(cert_path.read_bytes())
    return bool(x509.Certificate.load(der).not_valid_after - RENEW_BEFORE > datetime.now(UTC))


def companion(signer: Signer, main: uvicorn.Server, **options: Any) -> CompanionServer:
    """The RP face's server beside `main`, TLS with client certificates required."""
    cert_path, key_path, clients_ca = server_files(signer)
    config = uvicorn.Config(
        create_rp_app(signer),
        lifespan="off",  # the main app's lifespan sets up the pool and the sweep for both
        http=timely_heads(
            signer.settings.request_head_seconds,
            signer.settings.request_head_bytes,
            {"errorCode": "requestTimeout", "details": "the request's head did not all arrive in time"},
            {
                "errorCode": "invalidParameters",
                "details": f"the request's line and headers are longer than {signer.settings.request_head_bytes} bytes",
            },
            base=ClientCertificateProtocol,
        ),
        ssl_certfile=str(cert_path),
        ssl_keyfile=str(key_path),
        ssl_cert_reqs=ssl.CERT_REQUIRED,
        ssl_ca_certs=str(clients_ca),
        log_config=None,
        access_log=False,
        proxy_headers=False,
        **options,
    )
    return CompanionServer(config, main)


def serve_both(
    main: uvicorn.Server, sockets: list[socket.socket], rp: CompanionServer, rp_sockets: list[socket.socket]
) -> None:
    """Run both servers on one event loop until the main one stops."""

    async def both() -> None:
        await asyncio.gather(main.serve(sockets=sockets), rp.serve(sockets=rp_sockets))

    with asyncio.Runner(loop_factory=main.config.get_loop_factory()) as runner:
        runner.run(both())
