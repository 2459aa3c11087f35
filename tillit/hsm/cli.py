"""`tillit-hsm`: the administrators' commands for the token, its keys, the CA and code devices."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from asn1crypto import pem
from cryptography.hazmat.primitives import serialization

from tillit.cli_errors import OneLineErrors
from tillit.hsm import errors
from tillit.hsm.ca import (
    ISSUING_LABEL,
    LEDGER_LABEL,
    MAX_CA_YEARS,
    OCSP_LABEL,
    RENEW_WITHIN,
    ROOT_LABEL,
    TSA_LABEL,
    CertificateAuthority,
    ca_on_token,
)
from tillit.hsm.client import Hsm
from tillit.hsm.keys import Algorithm
from tillit.hsm.otp import CodeDeviceFile, check_serial, issue_code_device
from tillit.hsm.provision import initialise_token
from tillit.hsm.settings import PRIVATE_UMASK, HsmSettings, TillitSettings


def _settings(label: str | None = None) -> HsmSettings:
    settings = HsmSettings()
    if label:
        settings = settings.model_copy(update={"token_label": label})
    return settings


JSON_HELP = "Print JSON instead of text."
# A click command function, as the decorators take and give it.
F = TypeVar("F", bound=Callable[..., Any])

# The labels Tillit makes and depends on, and what each is: `keys destroy` and `keys generate` leave
# them alone. hsm imports nothing of the signer, so the signer's own are named here as well
# (tests/hsm/test_hsm_cli.py holds them to tillit.signer's constants).
TILLIT_LABELS = {
    ROOT_LABEL: "the CA's root key",
    ISSUING_LABEL: "the issuing CA's key",
    OCSP_LABEL: "the OCSP responder's key",
    TSA_LABEL: "the timestamp authority's key",
    "tillit-service-jwt": "the signer's service key (tokens, receipts)",
    "tillit-audit": "the signer's audit key (audit checkpoints)",
    "tillit-audit-anchor": "the signer's audit anchor",
    LEDGER_LABEL: "where the CA's ledger is (PostgreSQL)",
    "tillit-seal": "the signer's seal key (password hashes, device keys, grants to sign)",
}
TILLIT_PREFIXES = {
    "customer:": "a customer's key, which `tillit-signer customers` commands manage",
    "codedevice:": "a code device's secret, which `tillit-hsm codedevice issue` makes",
    f"{TSA_LABEL}-": "a timestamp authority's key, which `tillit-hsm ca rekey-tsa` makes",
}


def tillit_owned(label: str) -> str | None:
    """What `label` is to Tillit when Tillit makes and uses it itself, else None."""
    if label in TILLIT_LABELS:
        return TILLIT_LABELS[label]
    return next((what for prefix, what in TILLIT_PREFIXES.items() if label.startswith(prefix)), None)


def _emit(data: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    click.echo(json.dumps(data, indent=2) if as_json else text(data))


@click.group(cls=OneLineErrors, explain={errors.HsmError: str})
@click.version_option(package_name="tillit")
def main() -> None:
    """Prepare and inspect the HSM token, its keys, the CA and code devices."""
    os.umask(PRIVATE_UMASK)  # what it writes in TILLIT_HOME is for this user alone


@main.command()
@click.option("--label", default=None, help="Token label (default: TILLIT_TOKEN_LABEL or 'tillit').")
@click.option("--slot", type=int, default=None, help="Slot of the token to initialise (other modules).")
def init(label: str | None, slot: int | None) -> None:
    """Initialise a token; with SoftHSM, its config and tokens live in TILLIT_HOME."""
    settings = _settings(label)
    serial = initialise_token(settings, slot)
    click.echo(f"token '{settings.token_label}' initialised (serial {serial}) in {settings.home}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def status(as_json: bool) -> None:
    """Show the module, the token and how many keys it holds."""
    with Hsm(_settings()) as hsm:
        info = hsm.status().as_dict()
        # From the token alone: the status of the HSM answers while the CA ledger's database is away.
        info["ca_initialised"] = ca_on_token(hsm)
    _emit(info, as_json, lambda d: "\n".join(f"{k:15} {v}" for k, v in d.items()))


@main.group()
def keys() -> None:
    """Key pairs in the token."""


@keys.command("generate")
@click.option("--label", required=True, help="The new key's label (unique on the token).")
@click.option(
    "--algorithm",
    type=click.Choice([a.value for a in Algorithm]),
    default=Algorithm.EC_P256.value,
    show_default=True,
    help="Key algorithm.",
)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def keys_generate(label: str, algorithm: str, as_json: bool) -> None:
    """Generate a sign-only key pair; the private key never leaves the token. Labels Tillit uses
    itself (its CA's and the signer's keys, customer:*, codedevice:*) are refused."""
    owned = tillit_owned(label)
    if owned:
        raise errors.HsmError(f"'{label}' is a label Tillit uses for {owned}: choose another label")
    with Hsm(_settings()) as hsm:
        info = hsm.generate_key(label, Algorithm(algorithm))
    _emit(info.as_dict(), as_json, lambda d: f"generated {d['algorithm']} key '{d['label']}' id {d['id']}")


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def keys_list(as_json: bool) -> None:
    """List the key pairs."""
    with Hsm(_settings()) as hsm:
        found = [k.as_dict() for k in hsm.list_keys()]
    _emit(
        found,
        as_json,
        lambda ks: "\n".join(f"{k['label']:40} {k['algorithm']:9} id {k['id']}" for k in ks) or "no keys",
    )


@keys.command("show")
@click.argument("label")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def keys_show(label: str, as_json: bool) -> None:
    """Show one key's attributes and its public key."""
    with Hsm(_settings()) as hsm:
        info = hsm.key_info(label).as_dict()
        info["public_key_pem"] = (
            hsm.public_key(label)
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
    _emit(info, as_json, lambda d: "\n".join(f"{k:17} {v}" for k, v in d.items()))


@keys.command("destroy")
@click.argument("label")
@click.option("--yes", is_flag=True, help="Confirm: the key is gone for good.")
def keys_destroy(label: str, yes: bool) -> None:
    """Destroy a key pair and its certificate; refused for the keys Tillit depends on (its CA's,
    the signer's own, customers')."""
    owned = tillit_owned(label)
    if owned:
        raise errors.HsmError(f"'{label}' is {owned}; Tillit depends on it, so it is not destroyed")
    if not yes:
        raise errors.HsmError("destroying a key cannot be undone: add --yes")
    with Hsm(_settings()) as hsm:
        hsm.destroy_key(label)
    click.echo(f"destroyed key '{label}'")


@main.group()
def ca() -> None:
    """The certificate authority, with its keys in the token."""


class _PublicUrlSettings(TillitSettings):
    """The settings the signer makes its public URL of (`SignerSettings.base_url`: hsm may not
    import signer), read from the same environment and file."""

    public_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8700
    tls_cert: Path | None = None

    def url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"{'https' if self.tls_cert else 'http'}://{self.host}:{self.port}"


@ca.command("init")
@click.option(
    "--organisation",
    default="Tillit",
    show_default=True,
    help="The name in the CAs' common names ('<organisation> Root CA', '<organisation> Issuing CA').",
)
@click.option(
    "--public-url",
    default=None,
    help="The signer's public URL, written into the issuing CA's certificate (where its root's CRL and"
    " certificate are); default: the signer's (TILLIT_PUBLIC_URL, else http://TILLIT_HOST:TILLIT_PORT,"
    " i.e. http://127.0.0.1:8700). It must be the URL the signer serves: it cannot change later.",
)
def ca_init(organisation: str, public_url: str | None) -> None:
    """Create the root CA, the issuing CA, the OCSP responder and the timestamp authority, keys in the token."""
    url = (public_url or _PublicUrlSettings().url()).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise errors.HsmError(f"--public-url must be an http:// or https:// URL, not '{url}'")
    with Hsm(_settings()) as hsm:
        authority = CertificateAuthority.for_home(hsm)
        authority.init(organisation, public_url=url)
        authority.issue_timestamping_certificate()
        subject = authority.issuing_certificate().subject.human_friendly
    click.echo(f"CA initialised: {subject}")


def _whole_years(years: str) -> int:
    """`--years` as a number (the CA checks its range), or one line saying it is none."""
    try:
        return int(years)
    except ValueError:
        raise errors.HsmError(f"--years must be a whole number of years, not '{years}'") from None


def _years_option(lasting: str) -> Callable[[F], F]:
    """The required `--years` of `ca renew` and `ca rekey-tsa`: how long from now `lasting` lasts."""
    return click.option("--years", required=True, help=f"How long from now {lasting} lasts, 1 to {MAX_CA_YEARS}.")


@ca.command("renew")
@_years_option("the renewed root (the issuing CA a day less, the TSA three)")
def ca_renew(years: str) -> None:
    """Certify the CA's keys again for --years: root, issuing CA, TSA and OCSP responder, same names
    and keys, so that signatures made before keep validating and archive timestamps reach the new end.
    Restart each signer afterwards: a running one keeps the certificates it read at start."""
    lifetime = _whole_years(years)
    with Hsm(_settings()) as hsm:
        made = CertificateAuthority.for_home(hsm).renew(lifetime)
    ends = ", ".join(
        f"{made[role].subject.native['common_name']} until {made[role].not_valid_after:%Y-%m-%d}" for role in made
    )
    click.echo(f"CA renewed: {ends}; restart each tillit-signer to serve them")


@ca.command("rekey-tsa")
@_years_option("the new TSA certificate (never past the issuing CA)")
def ca_rekey_tsa(years: str) -> None:
    """Give the timestamp authority a new key (tillit-tsa-N) and a certificate for it. Each signer
    stamps with it from its next start; the old key stays in the token, unused."""
    lifetime = _whole_years(years)
    with Hsm(_settings()) as hsm:
        label, cert = CertificateAuthority.for_home(hsm).rekey_tsa(lifetime)
    click.echo(
        f"TSA re-keyed: key {label}, certificate until {cert.not_valid_after:%Y-%m-%d};"
        " restart each tillit-signer to stamp with it"
    )


@ca.command("status")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def ca_status(as_json: bool) -> None:
    """When each of the CA's certificates ends (root, issuing CA, TSA, OCSP responder), and whether
    it is time for `tillit-hsm ca renew`."""
    with Hsm(_settings()) as hsm:
        found = CertificateAuthority.for_home(hsm).certificates()
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = [
        {
            "role": role,
            "subject": cert.subject.native["common_name"] if cert else None,
            "serial": f"{cert.serial_number:x}" if cert else None,
            "notBefore": cert.not_valid_before.isoformat() if cert else None,
            "notAfter": cert.not_valid_after.isoformat() if cert else None,
            "daysLeft": (cert.not_valid_after - now).days if cert else None,
        }
        for role, cert in found.items()
    ]
    due = [
        r["role"]
        for r in rows
        if r["role"] in ("root", "tsa") and r["daysLeft"] is not None and r["daysLeft"] < RENEW_WITHIN.days
    ]

    def text(listed: list[dict[str, Any]]) -> str:
        lines = []
        for r in listed:
            if r["subject"] is None:
                lines.append(f"{r['role']:8} not made yet (the signer makes it at its first timestamp)")
                continue
            note = ", renewed by the signer" if r["role"] == "ocsp" else ""
            lines.append(f"{r['role']:8} {r['subject']:28} until {r['notAfter'][:10]} ({r['daysLeft']} days{note})")
        if due:
            lines.append(f"renew now, the {' and the '.join(due)} end within a year: tillit-hsm ca renew --years N")
        return "\n".join(lines)

    _emit(rows, as_json, text)


@ca.command("show")
def ca_show() -> None:
    """Print the chain (issuing CA, root) as PEM."""
    with Hsm(_settings()) as hsm:
        click.echo(CertificateAuthority.for_home(hsm).chain_pem(), nl=False)


@ca.command("crl")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the CRL to this file (replacing it); without --out, to standard output.",
)
@click.option("--der", is_flag=True, help="DER instead of PEM.")
@click.option("--root", is_flag=True, help="The root's CRL instead (empty: only a new CA would revoke the issuing CA).")
def ca_crl(out: Path | None, der: bool, root: bool) -> None:
    """Issue the current CRL, signed by the issuing CA (or with --root the root) in the token."""
    with Hsm(_settings()) as hsm:
        authority = CertificateAuthority.for_home(hsm)
        data = authority.root_crl() if root else authority.crl()
    if not der:
        data = pem.armor("X509 CRL", data)
    if out:
        out.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)


@main.group()
def codedevice() -> None:
    """Code devices (kodebrikke): TOTP secrets held in the token."""


@codedevice.command("issue")
@click.option("--serial", required=True, help="The device's serial: 1-64 letters, digits or dashes, not used before.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The device file to write (it holds the secret, 0600); it must not exist yet.",
)
def codedevice_issue(serial: str, out: Path) -> None:
    """Create a code device: the secret goes into the token, the device file to OUT."""
    check_serial(serial)
    # OUT is made (exclusively) before the token is touched: a file that cannot be written stops the
    # command with the serial unused, and a token that refuses the secret leaves no file behind.
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise errors.HsmError(f"{out} exists; choose another --out") from None
    with os.fdopen(fd, "w") as file:
        try:
            with Hsm(_settings()) as hsm:
                device = issue_code_device(hsm, serial)
        except BaseException:
            out.unlink(missing_ok=True)
            raise
        file.write(device.dumps())
    click.echo(f"code device {serial} issued; device file {out}")


@codedevice.command("show")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def codedevice_show(file: Path) -> None:
    """The simulator: print the device's current 6-digit code."""
    click.echo(CodeDeviceFile.load(file).code())
