"""`tillit-signer tls issue`: the daemon's HTTPS key and its certificate from the HSM CA."""

from __future__ import annotations

from pathlib import Path

import click
from asn1crypto import pem
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tillit.hsm.ca import MAX_SERVER_CERTIFICATE_DAYS, check_server_days, server_name
from tillit.signer import errors
from tillit.signer.cli.console import new_files
from tillit.signer.runtime import open_signer


@click.group()
def tls() -> None:
    """HTTPS for the daemon's port."""


@tls.command("issue")
@click.option(
    "--hostname",
    "hostnames",
    multiple=True,
    default=["localhost", "127.0.0.1"],
    show_default=True,
    help="A DNS name or IP address the certificate is for (repeat for more; the first is its common name).",
)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for tls-key.pem and tls-cert.pem (made if missing).",
)
@click.option(
    "--days",
    type=int,
    default=365,
    show_default=True,
    help=f"How long the certificate is valid: 1 to {MAX_SERVER_CERTIFICATE_DAYS} days.",
)
@click.option("--replace", is_flag=True, help="Replace a key and certificate already in --out-dir.")
def tls_issue(hostnames: tuple[str, ...], out_dir: Path, days: int, replace: bool) -> None:
    """A server key (file, 0600) and a certificate from the HSM CA; set TILLIT_TLS_CERT/TILLIT_TLS_KEY.
    A key already in --out-dir is kept (refused) unless --replace."""
    # Checked before anything is issued (the CA refuses them too, but in the HSM's words).
    try:
        for host in hostnames:
            server_name(host)
    except ValueError as e:
        raise errors.InvalidInput(f"--hostname: {e}") from None
    try:
        check_server_days(days)
    except ValueError as e:
        raise errors.InvalidInput(f"--days: {e}") from None
    out_dir = out_dir.resolve()  # printed for TILLIT_TLS_*, which the daemon reads from anywhere
    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    names = ("tls-key.pem", "tls-cert.pem")
    with new_files(out_dir, names, replace=replace, if_taken="add --replace to replace it") as written:
        with open_signer() as signer:
            cert = signer.ca.issue_server_certificate(spki, list(hostnames), days)
            chain = [cert, *signer.ca.chain()]
        written["tls-key.pem"].write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        written["tls-cert.pem"].write_bytes(b"".join(pem.armor("CERTIFICATE", c.dump()) for c in chain))
    click.echo(f"TILLIT_TLS_CERT={out_dir / 'tls-cert.pem'}\nTILLIT_TLS_KEY={out_dir / 'tls-key.pem'}")
