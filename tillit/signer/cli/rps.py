"""`tillit-signer rps ...`: relying parties of the BankID RP API face and their client certificates."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from asn1crypto import pem
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tillit.signer.cli.console import JSON_HELP, new_files, print_result
from tillit.signer.runtime import open_signer


@click.group()
def rps() -> None:
    """Relying parties of the BankID RP API face (docs/rp-api.md) and their client certificates."""


@rps.command("add")
@click.option("--name", required=True, help="The RP's name: what the phone shows as the requester.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for rp.crt, rp.key and ca.pem (made if missing; none of them may be there yet).",
)
def rps_add(name: str, out_dir: Path) -> None:
    """Issue an RP's client certificate from the Tillit CA into OUT: rp.crt, rp.key (PEM, no
    passphrase, 0600: the RP's own key, made here for it) and ca.pem (the chain that issued the RP
    face's server certificate, for the RP to trust)."""
    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    # The files first: a folder that cannot take them stops the command before the RP is registered
    # (its name could never be used again), and a refused registration leaves no files.
    with new_files(out_dir, ("rp.key", "rp.crt", "ca.pem")) as files:
        with open_signer() as signer:
            cert = signer.relying_parties.add(name, spki)
            chain = signer.ca.chain_pem()
        files["rp.key"].write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        files["rp.crt"].write_bytes(pem.armor("CERTIFICATE", cert.dump()))
        files["ca.pem"].write_text(chain)
    click.echo(f"relying party {name}: serial {cert.serial_number:x}, files in {out_dir}")


@rps.command("list")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def rps_list(as_json: bool) -> None:
    """Relying parties: name, certificate serial and SHA-256 fingerprint, issued, revoked."""
    with open_signer() as signer:
        found = [
            {
                "name": rp.name,
                "serial": rp.cert_serial,
                "fingerprint": rp.fingerprint,
                "issued": _when(rp.issued_at),
                "revoked": _when(rp.revoked_at) if rp.revoked_at is not None else None,
            }
            for rp in signer.relying_parties.list()
        ]
    print_result(
        found,
        as_json,
        lambda rs: (
            "\n".join(
                f"{r['name']:30} {r['serial']}  {r['fingerprint'][:16]}  issued {r['issued']}"
                + (f"  revoked {r['revoked']}" if r["revoked"] else "")
                for r in rs
            )
            or "no relying parties"
        ),
    )


@rps.command("revoke")
@click.argument("name")
def rps_revoke(name: str) -> None:
    """Refuse the RP's certificate from now on and revoke it at the CA."""
    with open_signer() as signer:
        revoked = signer.relying_parties.revoke(name)
    click.echo(f"relying party {revoked.name} revoked (serial {revoked.cert_serial})")


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
