"""`tillit-signer`: the daemon and the administrators' commands."""

from __future__ import annotations

import contextlib
import errno
import functools
import getpass
import json
import logging
import os
import socket
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from tillit.cli_errors import OneLineErrors
from tillit.config import ConfigError
from tillit.hsm.errors import HsmError
from tillit.hsm.settings import PRIVATE_UMASK
from tillit.signer import errors
from tillit.signer.runtime import check_public_url, open_signer
from tillit.signer.settings import SignerSettings

F = TypeVar("F", bound=Callable[..., Any])


def admin_errors(fn: F) -> F:
    """Nothing any more: the root group (`OneLineErrors`, tillit.cli_errors) turns every command's
    errors into one line. Kept so that the commands' decorators need no edit all at once."""
    return fn


def _signer_error(error: errors.SignerError) -> str:
    return error.reason


def _hsm_error(error: HsmError) -> str:
    return f"HSM: {error}"


def _print(data: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False) if as_json else text(data))


def read_secret(prompt: str, from_stdin: bool, confirm: bool = False) -> str:
    """A secret from standard input (one line) or a prompt; never from argv."""
    if from_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            raise errors.InvalidInput(f"expected {prompt.lower()} on standard input")
        return line.rstrip("\n")
    value = getpass.getpass(f"{prompt}: ")
    if confirm and getpass.getpass(f"{prompt} again: ") != value:
        raise errors.InvalidInput("the two entries differ")
    return value


@click.group(cls=OneLineErrors, explain={errors.SignerError: _signer_error, HsmError: _hsm_error})
@click.version_option(package_name="tillit")
def main() -> None:
    """The Tillit signer daemon and its administration."""
    os.umask(PRIVATE_UMASK)  # what it writes in TILLIT_HOME is for this user alone


@main.command()
@click.option("--host", default=None, help="Listen address (default from settings: 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default from settings: 8700).")
@admin_errors
def serve(host: str | None, port: int | None) -> None:
    """Run the HTTP API under uvicorn."""
    import uvicorn

    from tillit.signer.app import create_app
    from tillit.signer.logs import configure_logging

    updates = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings = SignerSettings().model_copy(update=updates)
    configure_logging(settings.log_json)
    log = logging.getLogger("tillit.signer")
    # The port first: one in use ends here, before the HSM or the store is opened.
    listening = listen(settings.host, settings.port)
    with listening, open_signer(settings) as signer:
        check_public_url(signer)
        # Every key handle and certificate in one enumeration, in the background: no order searches
        # the token (linear in its objects). Lookups wait for it while it loads (about a second at
        # 10,000 customers); /healthz reports it as keyIndex.
        signer.hsm.start_preload()
        signer.recover()
        signer.tokens.jwks()
        app = create_app(signer)
        ssl: dict[str, Any] = {}
        if settings.tls_cert and settings.tls_key:
            ssl = {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)}
        scheme = "https" if ssl else "http"
        log.info("serving on %s://%s:%d", scheme, settings.host, settings.port, extra={"tillit_event": "serve.start"})
        # No proxy headers: nothing here reads the client's address or scheme, and uvicorn's layer
        # for them would be one more pass over every request's headers.
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            proxy_headers=False,
            **ssl,
        )
        uvicorn.Server(config).run(sockets=[listening])
        log.info("stopped", extra={"tillit_event": "serve.stop"})


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host and port for `serve` (uvicorn listens on it); ConfigError, one
    line, when the port is taken or the address is not this machine's."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    where = f"port {port} on {host}"
    try:
        # As uvicorn binds: SO_REUSEADDR, so that a restart need not wait for TIME_WAIT to pass.
        return socket.create_server((host, port), family=family)
    except OverflowError:
        raise ConfigError(f"port {port} is no TCP port (1-65535): set --port or TILLIT_PORT") from None
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            reason = f"{where} is in use (another tillit-signer?): stop it, or choose another: --port or TILLIT_PORT"
        elif e.errno == errno.EACCES:
            reason = f"{where}: permission denied (ports below 1024 need privileges): choose --port or TILLIT_PORT"
        elif e.errno == errno.EADDRNOTAVAIL or isinstance(e, socket.gaierror):
            reason = f"cannot listen on {host}: not an address of this machine: set --host or TILLIT_HOST"
        else:
            reason = f"cannot listen on {where}: {e.strerror}"
        raise ConfigError(reason) from None


# -- customers ------------------------------------------------------------------------------------


@main.group()
def customers() -> None:
    """Enrolled customers."""


@customers.command("add")
@click.option("--personal-number", required=True)
@click.option("--name", required=True)
@click.option("--mobile", required=True, help="+47 and 8 digits.")
@click.option("--email", required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--guardian", default=None, help="A guardian's number, for customers aged 13-17.")
@click.option(
    "--control-answers-stdin",
    is_flag=True,
    help="Read the answers to the control questions (one a line) after the password.",
)
@click.option("--json", "as_json", is_flag=True)
@admin_errors
def customers_add(
    personal_number: str,
    name: str,
    mobile: str,
    email: str,
    password_stdin: bool,
    guardian: str | None,
    control_answers_stdin: bool,
    as_json: bool,
) -> None:
    """Enrol a customer: key in the HSM, certificate from the CA, Argon2id password."""
    from tillit.signer.lifecycle import CONTROL_QUESTIONS

    password = read_secret("Password", password_stdin, confirm=True)
    answers = [read_secret(q, control_answers_stdin) for q in CONTROL_QUESTIONS] if control_answers_stdin else None
    with open_signer() as signer:
        customer = signer.enrol(personal_number, name, mobile, email, password, guardian, answers)
    _print(customer.public(), as_json, lambda c: f"enrolled {c['name']} ({c['personalNumber']}), status {c['status']}")


@customers.command("list")
@click.option("--json", "as_json", is_flag=True)
@admin_errors
def customers_list(as_json: bool) -> None:
    """List customers."""
    with open_signer() as signer:
        found = [c.public() for c in signer.customers()]
    _print(
        found,
        as_json,
        lambda cs: "\n".join(f"{c['personalNumber']}  {c['name']:30} {c['status']}" for c in cs) or "no customers",
    )


def _when(epoch_or_iso: float | str | None) -> str:
    if epoch_or_iso is None:
        return "?"
    if isinstance(epoch_or_iso, str):
        at = datetime.fromisoformat(epoch_or_iso)
    else:
        at = datetime.fromtimestamp(epoch_or_iso, UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _customer_text(d: dict[str, Any]) -> str:
    """`customers show` for people: one fact a line, and the command that fixes what is wrong."""
    number = d["personalNumber"]
    status = d["status"].replace("_", " ")
    if d["status"] == "blocked":
        status += f" ({d.get('blockedReason') or 'no reason given'}); `customers unblock {number}` issues a new key"
    password = "locked" if d["passwordLocked"] else f"{d['failedPasswords']} wrong attempts in a row"
    if d["passwordLocked"]:
        password += f"; `customers unlock {number}` or `customers reset-password {number}`"
    cert = d["certificate"]
    serial = cert["serial"] or "none"
    if cert["status"] == "valid":
        certificate = [f"{serial}, valid until {_when(cert['notAfter'])}"]
    elif cert["status"] == "revoked":
        certificate = [f"{serial}, REVOKED {_when(cert['revokedAt'])} ({cert['reason']}): it signs nothing"]
    elif cert["status"] == "expired":
        certificate = [f"{serial}, EXPIRED {_when(cert['notAfter'])}: it signs nothing"]
    else:
        certificate = [f"{serial}: NO CERTIFICATE, nothing can be signed"]
    if cert["status"] != "valid":
        fix = "unblock" if d["status"] == "blocked" else "reissue-certificate"
        certificate.append(f"to sign again: tillit-signer customers {fix} {number}")
    device = d["device"]
    if device:
        login = "login without password on" if device["biometric"] else "login without password off"
        phone = [f"{device['name']} ({device['id']}), active since {_when(device['activatedAt'])}, {login}"]
    else:
        phone = ["none active: the customer activates the app (`tillit-phone activate`)"]
    rows = [
        ("status", [status]),
        ("born", [d["born"]]),
        ("mobile", [d["mobile"]]),
        ("e-mail", [d["email"]]),
        ("password", [password]),
        ("control answers", ["locked" if d["controlAnswersLocked"] else "usable"]),
        ("certificate", certificate),
        ("app", phone),
        ("last method", [d["lastMethod"] or "-"]),
        ("id", [d["id"]]),
    ]
    lines = [f"{d['name']} ({number})"]
    for label, values in rows:
        lines.append(f"  {label:16} {values[0]}")
        lines.extend(f"  {'':16} {value}" for value in values[1:])
    return "\n".join(lines)


@customers.command("show")
@click.argument("personal_number")
@click.option("--json", "as_json", is_flag=True)
@admin_errors
def customers_show(personal_number: str, as_json: bool) -> None:
    """Show one customer: status, password, certificate as the CA has it now, and the active app,
    with the command that fixes what is not in order."""
    from tillit.signer.certificate_state import certificate_state

    with open_signer() as signer:
        customer = signer.customer(personal_number)
        data = customer.public()
        data["blockedReason"] = customer.blocked_reason
        data["certificate"] = certificate_state(signer.ca, customer).public()
        data["device"] = signer.active_device_info(customer.id)
    _print(data, as_json, _customer_text)


@customers.command("unlock")
@click.argument("personal_number")
@admin_errors
def customers_unlock(personal_number: str) -> None:
    """Unlock a customer's password after five wrong attempts."""
    with open_signer() as signer:
        signer.unlock(personal_number)
    click.echo(f"password unlocked for {personal_number}")


@customers.command("add-device")
@click.argument("personal_number")
@click.option("--public-key", "public_key", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--name", default="phone")
@click.option("--json", "as_json", is_flag=True)
@admin_errors
def customers_add_device(personal_number: str, public_key: Path, name: str, as_json: bool) -> None:
    """Bind a device public key (ECDSA P-256, PEM) as the customer's one active device."""
    with open_signer() as signer:
        device = signer.add_device(personal_number, public_key.read_bytes(), name)
    _print(device.public(), as_json, lambda d: f"device {d['id']} active")


@customers.command("revoke-certificate")
@click.argument("personal_number")
@click.option(
    "--reason",
    default="unspecified",
    show_default=True,
    help="An RFC 5280 reason: unspecified, keyCompromise, cACompromise, affiliationChanged, superseded,"
    " cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise (key_compromise etc. too).",
)
@admin_errors
def customers_revoke_certificate(personal_number: str, reason: str) -> None:
    """Revoke the customer's certificate (OCSP and the CRL then say so)."""
    with open_signer() as signer:
        customer = signer.revoke_certificate(personal_number, reason)
    click.echo(f"certificate {customer.cert_serial} revoked")


@customers.command("reissue-certificate")
@click.argument("personal_number")
@admin_errors
def customers_reissue_certificate(personal_number: str) -> None:
    """After revoke-certificate: a new key in the HSM and a new certificate for it."""
    with open_signer() as signer:
        customer = signer.lifecycle.reissue_certificate(personal_number, by="administrator")
    click.echo(f"certificate {customer.cert_serial} issued")


@customers.command("assign-codedevice")
@click.argument("personal_number")
@click.option("--serial", required=True, help="Serial of a code device issued with `tillit-hsm codedevice issue`.")
@admin_errors
def customers_assign_codedevice(personal_number: str, serial: str) -> None:
    """Hand a code device (kodebrikke) to a customer."""
    with open_signer() as signer:
        signer.code_devices.assign(personal_number, serial)
    click.echo(f"code device {serial} assigned to {personal_number}")


@customers.command("block")
@click.argument("personal_number")
@click.option(
    "--reason",
    default=None,
    help="Why, one of: lost-phone, suspected-misuse, customer-request, deceased, bank-decision (required;"
    " goes to the audit log).",
)
@click.option("--note", default=None, help="A few words more for the audit log (optional).")
@admin_errors
def customers_block(personal_number: str, reason: str | None, note: str | None) -> None:
    """Block (sperre): orders fail, the device goes, the certificate is revoked, the key stops."""
    from tillit.signer.lifecycle import block_reason

    why = block_reason(reason, note)  # before anything is opened: a wrong reason changes nothing
    with open_signer() as signer:
        signer.customer(personal_number)
        if not signer.lifecycle.block(personal_number, why, by="administrator"):
            raise errors.Conflict("the customer is already blocked")
    click.echo(f"blocked {personal_number}")


@customers.command("unblock")
@click.argument("personal_number")
@admin_errors
def customers_unblock(personal_number: str) -> None:
    """Unblock with a new key and certificate; the customer activates the app again."""
    with open_signer() as signer:
        customer = signer.lifecycle.unblock(personal_number, by="administrator")
    click.echo(f"unblocked {personal_number}; new certificate {customer.cert_serial}")


@customers.command("reset-password")
@click.argument("personal_number")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
@admin_errors
def customers_reset_password(personal_number: str, password_stdin: bool) -> None:
    """Set a new password at the counter (after identity checks there); unlocks it."""
    password = read_secret("New password", password_stdin, confirm=True)
    with open_signer() as signer:
        signer.lifecycle.admin_reset_password(personal_number, password, by="administrator")
    click.echo(f"password reset for {personal_number}")


# -- kiosks ---------------------------------------------------------------------------------------


@main.group()
def kiosks() -> None:
    """Kiosks (relying parties) and their bearer tokens."""


@kiosks.command("add")
@click.option("--name", required=True)
@click.option("--staff", is_flag=True, help="A back-office token that may queue agreements, not a kiosk.")
@admin_errors
def kiosks_add(name: str, staff: bool) -> None:
    """Register a kiosk and print its bearer token (shown once; only its hash is stored)."""
    with open_signer() as signer:
        _, token = signer.add_kiosk(name, role="staff" if staff else "kiosk")
    click.echo(token)


@kiosks.command("list")
@click.option("--json", "as_json", is_flag=True)
@admin_errors
def kiosks_list(as_json: bool) -> None:
    """List kiosks."""
    with open_signer() as signer:
        found = [
            {"id": k.id, "name": k.name, "role": k.role, "status": k.status, "createdAt": k.created_at}
            for k in signer.kiosks()
        ]
    _print(found, as_json, lambda ks: "\n".join(f"{k['id']}  {k['name']:30} {k['status']}" for k in ks) or "no kiosks")


@kiosks.command("revoke")
@click.argument("kiosk")
@admin_errors
def kiosks_revoke(kiosk: str) -> None:
    """Revoke a kiosk's token (by id or name)."""
    with open_signer() as signer:
        revoked = signer.revoke_kiosk(kiosk)
    click.echo(f"kiosk {revoked.name} revoked")


# -- receipts and audit ---------------------------------------------------------------------------


@main.group()
def receipts() -> None:
    """Receipts of completed sign orders."""


@receipts.command("show")
@click.argument("order_ref")
@click.option("--json", "as_json", is_flag=True, help="The receipt's claims as one JSON document.")
@click.option("--jws", "as_jws", is_flag=True, help="The signed receipt as issued (compact JWS), on one line.")
@admin_errors
def receipts_show(order_ref: str, as_json: bool, as_jws: bool) -> None:
    """Show what was signed, when, by whom and where: the signed receipt's claims once its signature
    verifies with the service key (`--jws`: the receipt as issued, to verify elsewhere)."""
    with open_signer() as signer:
        if as_jws:
            click.echo(signer.receipt_jws(order_ref))
            return
        receipt = signer.receipt(order_ref)
    _print(receipt, as_json, lambda r: json.dumps(r, indent=2, ensure_ascii=False))


@main.group()
def audit() -> None:
    """The hash-chained audit log."""


@audit.command("verify")
@click.option(
    "--expect",
    "expect",
    default=None,
    metavar="SEQ[:HASH]",
    help="An entry the log must still hold (as in an export's head.txt): detects a truncated tail.",
)
@admin_errors
def audit_verify(expect: str | None) -> None:
    """Check every link of the audit chain, every checkpoint signed by the HSM's audit key, and the
    checkpoint anchored in the HSM (still there, same hash, none deleted); exit 1 at the first
    broken one."""
    from tillit.signer.audit import parse_expected

    try:
        expected = parse_expected(expect) if expect else None
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--expect") from None
    with open_signer() as signer:
        report = signer.audit_log.verify(expected)
    if report.ok:
        covered = (
            f", {report.checkpoints} signed checkpoints (the newest at entry {report.covered_to})"
            if report.checkpoints
            else ", no signed checkpoint yet"
        )
        tail = f"; {report.uncovered} newer entries not yet covered" if report.checkpoints and report.uncovered else ""
        anchored = f", anchored in the HSM at entry {report.anchored_to}" if report.anchored_to else ""
        notes = "".join(f"; {note}" for note in report.notes if "anchor" in note)
        click.echo(f"audit log intact: {report.entries} entries{covered}{anchored}{tail}{notes}")
        return
    click.echo(f"audit log broken at entry {report.broken_at}: {report.reason}", err=True)
    sys.exit(1)


@audit.command("export")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True)
@admin_errors
def audit_export(out: Path) -> None:
    """Verify the log against its checkpoints and the HSM's anchor (refusing, with nothing signed,
    when it does not hold), sign and anchor a checkpoint at the head, then write the entries (JSON
    lines), every checkpoint with its DER signature, the audit public key (PEM) and a README on
    checking them with openssl."""
    from tillit.signer.audit import AuditBroken

    with open_signer() as signer:
        try:
            summary = signer.audit_log.export(out)
        except AuditBroken as e:
            click.echo(f"audit export refused, nothing signed: {e}", err=True)
            sys.exit(1)
    click.echo(
        f"exported {summary['entries']} entries and {len(summary['checkpoints'])} signed checkpoints to {out}"
        f" (head {summary['head']})"
    )


# -- agreements and outbox ------------------------------------------------------------------------


@main.group()
def agreements() -> None:
    """Agreements waiting at the branch for a customer to sign."""


@agreements.command("add")
@click.option("--personal-number", required=True)
@click.option("--title", required=True)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@admin_errors
def agreements_add(personal_number: str, title: str, file: Path, as_json: bool) -> None:
    """Queue a PDF agreement for a customer."""
    with open_signer() as signer:
        added = signer.agreements.add(personal_number, title, file.name, file.read_bytes())
    _print({"id": added.id, "title": added.title}, as_json, lambda a: f"agreement {a['id']} queued: {a['title']}")


@agreements.command("list")
@click.option("--personal-number", default=None)
@click.option("--json", "as_json", is_flag=True)
@admin_errors
def agreements_list(personal_number: str | None, as_json: bool) -> None:
    """List agreements, waiting and signed."""
    with open_signer() as signer:
        found = [
            {"id": a.id, "title": a.title, "name": a.name, "signedOrder": a.signed_order, "signedAt": a.signed_at}
            for a in signer.agreements.all(personal_number)
        ]
    _print(
        found,
        as_json,
        lambda xs: (
            "\n".join(f"{a['id']}  {a['title']:40} {'signed' if a['signedAt'] else 'waiting'}" for a in xs)
            or "no agreements"
        ),
    )


@main.group()
def outbox() -> None:
    """Messages the default sender wrote instead of sending SMS and e-mail."""


@outbox.command("list")
@click.option("--json", "as_json", is_flag=True)
@admin_errors
def outbox_list(as_json: bool) -> None:
    """List the outbox, oldest first."""
    with open_signer() as signer, signer.store.tx() as tx:
        messages = tx.outbox()
    _print(
        messages,
        as_json,
        lambda ms: "\n".join(f"{m['channel']:5} {m['recipient']:25} {m['body']}" for m in ms) or "outbox empty",
    )


@main.group()
def feedback() -> None:
    """Customers' ratings after login and signing (anonymous)."""


@feedback.command("report")
@click.option("--json", "as_json", is_flag=True)
@admin_errors
def feedback_report(as_json: bool) -> None:
    """Counts and average rating per kiosk and kind of order."""
    with open_signer() as signer:
        rows = signer.feedback.report()
    _print(
        rows,
        as_json,
        lambda rs: (
            "\n".join(f"{r['kiosk']:30} {r['kind']} {r['count']:5} answers, mean {r['average']:.2f}" for r in rs)
            or "no feedback yet"
        ),
    )


@main.group()
def tls() -> None:
    """HTTPS for the daemon's port."""


@tls.command("issue")
@click.option("--hostname", "hostnames", multiple=True, default=["localhost", "127.0.0.1"], show_default=True)
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--days", type=int, default=365, show_default=True)
@admin_errors
def tls_issue(hostnames: tuple[str, ...], out_dir: Path, days: int) -> None:
    """A server key (file, 0600) and a certificate from the HSM CA; set TILLIT_TLS_CERT/TILLIT_TLS_KEY."""
    import os

    from asn1crypto import pem
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    with open_signer() as signer:
        cert = signer.ca.issue_server_certificate(spki, list(hostnames), days)
        chain = [cert, *signer.ca.chain()]
    out_dir.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = out_dir / "tls-key.pem", out_dir / "tls-cert.pem"
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    cert_path.write_bytes(b"".join(pem.armor("CERTIFICATE", c.dump()) for c in chain))
    click.echo(f"TILLIT_TLS_CERT={cert_path}\nTILLIT_TLS_KEY={key_path}")


# -- long-term signatures ---------------------------------------------------------------------------


def _quiet_validation_logs() -> None:
    """pyHanko logs each step of a validation as a warning; the verdict says what matters."""
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _bad_input(message: str) -> None:
    click.echo(f"tillit-signer: {message}", err=True)
    sys.exit(2)


def _validation_time(text: str | None) -> datetime | None:
    """`--at`: an ISO 8601 date (midnight UTC) or date and time (UTC unless it says otherwise)."""
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        _bad_input(f"--at: '{text}' is not an ISO 8601 date or date and time (2031-06-01, 2031-06-01T12:00Z)")
        raise
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _status_today(signer: Any, certs: list[Any]) -> Any:
    """OCSP responses for the certificates the local CA issued, and its CRLs, made now in-process."""
    from tillit.signer.longterm import validation_material

    issuing = signer.ca.issuing_certificate()
    ours = {c.sha256: c for c in certs if c.issuer == issuing.subject}
    return validation_material(signer.ca, list(ours.values()), signer.current_crl(), 0)


@main.command("verify")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--content", type=click.Path(path_type=Path), default=None, help="The signed file of a detached .p7s.")
@click.option("--at", "at_text", default=None, help="Validate at this date (ISO 8601, UTC), e.g. 2031-06-01.")
@click.option("--root", type=click.Path(path_type=Path), default=None, help="PEM trust anchor (else the CA root).")
@click.option("--json", "as_json", is_flag=True)
@admin_errors
def verify(file: Path, content: Path | None, at_text: str | None, root: Path | None, as_json: bool) -> None:
    """Validate a signed PDF or a detached CMS signature offline (ETSI EN 319 102-1, pyHanko), with
    the root as the only trust anchor, now or --at a date. Exit 0 only when every signature PASSED;
    1 when one FAILED or is INDETERMINATE; 2 for input that cannot be checked."""
    from asn1crypto import pem, x509

    from tillit.signer.longterm import FreshStatus, VerifyInputError, verify_cms, verify_pdf

    _quiet_validation_logs()
    at = _validation_time(at_text)
    try:
        data = file.read_bytes()
        content_bytes = content.read_bytes() if content is not None else None
        root_bytes = root.read_bytes() if root is not None else None
    except OSError as e:
        _bad_input(f"{e.filename}: {e.strerror}")
        return
    if data.lstrip()[:5] != b"%PDF-" and content_bytes is None:
        _bad_input(f"{file}: not a PDF; a detached signature needs --content FILE")
    with contextlib.ExitStack() as stack:
        fresh: FreshStatus | None = None
        try:
            if root_bytes is not None:  # a root given: the signature's own material alone
                anchor = x509.Certificate.load(pem.unarmor(root_bytes)[2] if pem.detect(root_bytes) else root_bytes)
                _ = anchor.native
            else:  # the local CA's root, and today's status of the certificates from it (no network)
                signer = stack.enter_context(open_signer())
                anchor = signer.ca.root_certificate()
                fresh = functools.partial(_status_today, signer)
        except (ValueError, TypeError, KeyError) as e:
            _bad_input(f"--root: not a certificate ({type(e).__name__})")
            return
        try:
            if content_bytes is None:
                verdicts = verify_pdf(data, anchor, at, fresh)
            else:
                verdicts = [verify_cms(data, content_bytes, anchor, at, fresh)]
        except VerifyInputError as e:
            _bad_input(f"{file}: {e}")
            return

    def text(found: list[dict[str, Any]]) -> str:
        lines = []
        for v in found:
            lines.append(f"{v['indication']}  {v['level']}  {v['signer']}  signed {v['signingTime'] or 'unknown'}")
            if v["indication"] != "PASSED":
                lines.append(f"  {v['subindication']}: {v['reason']}")
        return "\n".join(lines)

    _print([v.as_dict() for v in verdicts], as_json, text)
    sys.exit(0 if all(v.passed for v in verdicts) else 1)


@main.command("archive-timestamp")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@admin_errors
def archive_timestamp(files: tuple[Path, ...]) -> None:
    """Renew B-LTA PDFs in place: the newest document timestamp's validation data into the DSS, then
    a fresh document timestamp from Tillit's TSA (run yearly, and before the TSA certificate ends).
    Files that cannot be renewed are named on stderr and left as they were (exit 2)."""
    from tillit.signer.longterm import (
        VerifyInputError,
        archive_timestamp,
        last_document_timestamp_signer,
        validation_material,
    )

    _quiet_validation_logs()
    refused = False
    with open_signer() as signer:
        tsa, ca = signer.documents.tsa, signer.ca
        for file in files:
            try:
                data = file.read_bytes()
                # OCSP for the TSA certificate of the newest timestamp, and for today's if another.
                previous, current = last_document_timestamp_signer(data), tsa.certificate()
                end_entities = [previous] if previous.dump() == current.dump() else [previous, current]
                crl, reuse_for = signer.current_crl(), signer.settings.ocsp_cache_seconds
                material = validation_material(ca, end_entities, crl, reuse_for)
                renewed = archive_timestamp(data, signer.documents.timestamper, ca.root_certificate(), material)
            except OSError as e:
                click.echo(f"tillit-signer: {file}: {e.strerror}", err=True)
                refused = True
                continue
            except VerifyInputError as e:
                click.echo(f"tillit-signer: {file}: {e}", err=True)
                refused = True
                continue
            except Exception as e:  # pyHanko refuses a chain it cannot validate: name the file, go on
                click.echo(f"tillit-signer: {file}: cannot renew: {type(e).__name__}: {e}".splitlines()[0], err=True)
                refused = True
                continue
            partial = file.with_name(f".{file.name}.renewing")
            partial.write_bytes(renewed)
            os.replace(partial, file)  # whole or not at all
            click.echo(f"{file}: document timestamp added")
    if refused:
        sys.exit(2)


@main.command("config")
@click.option("--defaults", is_flag=True, help="Every setting with its meaning and default, commented out.")
def config(defaults: bool) -> None:
    """Print the settings in effect (defaults, the file, TILLIT_* variables) as TOML, each value set
    by the file or a variable with which; refuses, in one line, a configuration with a mistake.
    With --defaults: a documented configuration file with every setting and its default."""
    from tillit.hsm.settings import HsmSettings
    from tillit.signer.settings import documented_toml, effective_toml

    if defaults:
        click.echo(documented_toml(), nl=False)
        return
    settings = SignerSettings()
    click.echo(effective_toml(settings, HsmSettings(home=settings.home)), nl=False)
