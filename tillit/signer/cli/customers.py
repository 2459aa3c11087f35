"""`tillit-signer customers ...`: enrolling customers and what an administrator does for them.

`list` and `show` read the store and the CA ledger alone (`open_records`), so they work while the
HSM is away; they then say so, in the text and as `"hsm": {"status": "unavailable", "reason": ...}`
in the JSON (absent while the HSM opens). Every other command opens the whole signer and is refused
in one line while the HSM is away, before anything changes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from tillit.signer import errors
from tillit.signer.certificate_state import certificate_state
from tillit.signer.cli.console import JSON_HELP, print_result, read_secret
from tillit.signer.customers.control_questions import CONTROL_QUESTIONS
from tillit.signer.customers.lifecycle import block_reason
from tillit.signer.customers.overview import customer_overview, listed_customers
from tillit.signer.runtime import hsm_unavailable, open_records, open_signer
from tillit.signer.service import Signer
from tillit.signer.settings import SignerSettings


def _ca_needed(signer: Signer) -> None:
    """Refuse, before anything changes, a command that issues a customer's certificate on a token
    without a CA: the customer would be left with a key and no certificate."""
    if not signer.ca.initialised:
        raise errors.Conflict("the CA is not initialised, so no certificate can be issued: run `tillit-hsm ca init`")


@click.group()
def customers() -> None:
    """Enrolled customers."""


@customers.command("add")
@click.option("--personal-number", required=True, help="The customer's national identity number (11 digits).")
@click.option("--name", required=True, help="Full name, as in the certificate (the last word is the surname).")
@click.option("--mobile", required=True, help="+47 and 8 digits.")
@click.option("--email", required=True, help="E-mail address (activation codes go to it).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option(
    "--guardian",
    default=None,
    help="A guardian's number, for customers aged 13-17 (required for them, refused for adults).",
)
@click.option(
    "--control-answers-stdin",
    is_flag=True,
    help="Read the answers to the control questions (one a line) after the password.",
)
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
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

    password = read_secret("Password", password_stdin, confirm=True)
    answers = [read_secret(q, control_answers_stdin) for q in CONTROL_QUESTIONS] if control_answers_stdin else None
    with open_signer() as signer:
        _ca_needed(signer)
        customer = signer.enrol(personal_number, name, mobile, email, password, guardian, answers)
    print_result(
        customer.public(), as_json, lambda c: f"enrolled {c['name']} ({c['personalNumber']}), status {c['status']}"
    )


def _hsm_note(settings: SignerSettings) -> dict[str, str] | None:
    """`list`'s and `show`'s `hsm` field: None while the HSM opens, else its status and why not."""
    reason = hsm_unavailable(settings)
    return None if reason is None else {"status": "unavailable", "reason": reason}


def _hsm_away(note: dict[str, str], shown: str) -> list[str]:
    """What `list` and `show` say after "HSM" while it is away: why, what cannot be done meanwhile,
    and where what they show (`shown`) comes from."""
    return [
        f"unavailable: {note['reason']}",
        "no login or signing, and no change to a customer, until it is back",
        f"{shown} from the database and the CA ledger, which do not need the HSM",
    ]


@customers.command("list")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def customers_list(as_json: bool) -> None:
    """List customers (from the database: while the HSM is away too, and then says so)."""
    with open_records() as records:
        found = listed_customers(records.store)
    hsm = _hsm_note(records.settings)
    if hsm:
        for listed in found:
            listed["hsm"] = hsm

    def text(cs: list[dict[str, Any]]) -> str:
        lines = [f"{c['personalNumber']}  {c['name']:30} {c['status']}" for c in cs] or ["no customers"]
        if hsm:
            lines.append("HSM " + "; ".join(_hsm_away(hsm, "this list is")))
        return "\n".join(lines)

    print_result(found, as_json, text)


def _when(epoch_or_iso: datetime | float | str | None) -> str:
    if epoch_or_iso is None:
        return "?"
    if isinstance(epoch_or_iso, datetime):
        at = epoch_or_iso
    elif isinstance(epoch_or_iso, str):
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
    if d.get("hsm"):
        rows.insert(0, ("HSM", _hsm_away(d["hsm"], "what follows is")))
    lines = [f"{d['name']} ({number})"]
    for label, values in rows:
        lines.append(f"  {label:16} {values[0]}")
        lines.extend(f"  {'':16} {value}" for value in values[1:])
    return "\n".join(lines)


@customers.command("show")
@click.argument("personal_number")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def customers_show(personal_number: str, as_json: bool) -> None:
    """Show one customer: status, password, certificate as the CA has it now, and the active app,
    with the command that fixes what is not in order (while the HSM is away too, and then says so)."""

    with open_records() as records:
        data = customer_overview(records.store, records.ledger, personal_number, records.settings.allow_test_numbers)
    hsm = _hsm_note(records.settings)
    if hsm:
        data["hsm"] = hsm
    print_result(data, as_json, _customer_text)


@customers.command("unlock")
@click.argument("personal_number")
def customers_unlock(personal_number: str) -> None:
    """Unlock a customer's password after five wrong attempts (and the control answers', and clear
    the wrong attempts counted so far)."""
    with open_signer() as signer:
        before = signer.customer(personal_number)
        signer.unlock(personal_number)
    if before.password_locked or before.answers_locked:
        click.echo(f"password unlocked for {personal_number}")
    else:
        wrong = before.failed_passwords + before.failed_answers
        counted = f"; its {wrong} wrong attempt{'s' if wrong != 1 else ''} so far cleared" if wrong else ""
        click.echo(f"{personal_number} was not locked{counted}")


@customers.command("add-device")
@click.argument("personal_number")
@click.option(
    "--public-key",
    "public_key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The device's public key: ECDSA P-256, PEM.",
)
@click.option("--name", default="phone", show_default=True, help="The device's name, as the bank shows it.")
@click.option("--json", "as_json", is_flag=True, help=JSON_HELP)
def customers_add_device(personal_number: str, public_key: Path, name: str, as_json: bool) -> None:
    """Bind a device public key (ECDSA P-256, PEM) as the customer's one active device."""
    with open_signer() as signer:
        device = signer.add_device(personal_number, public_key.read_bytes(), name)
    print_result(device.public(), as_json, lambda d: f"device {d['id']} active")


@customers.command("revoke-certificate")
@click.argument("personal_number")
@click.option(
    "--reason",
    default="unspecified",
    show_default=True,
    help="An RFC 5280 reason: unspecified, keyCompromise, cACompromise, affiliationChanged, superseded,"
    " cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise (key_compromise etc. too).",
)
def customers_revoke_certificate(personal_number: str, reason: str) -> None:
    """Revoke the customer's certificate (OCSP and the CRL then say so); refused when it is revoked already."""
    with open_signer() as signer:
        state = certificate_state(signer.ca, signer.customer(personal_number))
        if state.status == "revoked":
            raise errors.Conflict(
                f"certificate {state.serial} is already revoked ({_when(state.revoked_at)}, {state.reason})"
            )
        customer = signer.revoke_certificate(personal_number, reason)
    click.echo(f"certificate {customer.cert_serial} revoked")


@customers.command("reissue-certificate")
@click.argument("personal_number")
def customers_reissue_certificate(personal_number: str) -> None:
    """After revoke-certificate: a new key in the HSM and a new certificate for it."""
    with open_signer() as signer:
        _ca_needed(signer)
        customer = signer.lifecycle.reissue_certificate(personal_number, by="administrator")
    click.echo(f"certificate {customer.cert_serial} issued")


@customers.command("assign-codedevice")
@click.argument("personal_number")
@click.option("--serial", required=True, help="Serial of a code device issued with `tillit-hsm codedevice issue`.")
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
    # Checked by block_reason rather than click's required=True: a missing reason is then refused in
    # one line listing the reasons, as a wrong one is.
    help="Required: why, one of lost-phone, suspected-misuse, customer-request, deceased, bank-decision"
    " (goes to the audit log).",
)
@click.option("--note", default=None, help="A few words more for the audit log (optional).")
def customers_block(personal_number: str, reason: str | None, note: str | None) -> None:
    """Block (sperre): orders fail, the device goes, the certificate is revoked, the key stops."""

    why = block_reason(reason, note)  # before anything is opened: a wrong reason changes nothing
    with open_signer() as signer:
        signer.customer(personal_number)
        if not signer.lifecycle.block(personal_number, why, by="administrator"):
            raise errors.Conflict("the customer is already blocked")
    click.echo(f"blocked {personal_number}")


@customers.command("unblock")
@click.argument("personal_number")
def customers_unblock(personal_number: str) -> None:
    """Unblock with a new key and certificate; the customer activates the app again."""
    with open_signer() as signer:
        _ca_needed(signer)
        customer = signer.lifecycle.unblock(personal_number, by="administrator")
    click.echo(f"unblocked {personal_number}; new certificate {customer.cert_serial}")


@customers.command("reset-password")
@click.argument("personal_number")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
def customers_reset_password(personal_number: str, password_stdin: bool) -> None:
    """Set a new password at the counter (after identity checks there); unlocks it."""
    password = read_secret("New password", password_stdin, confirm=True)
    with open_signer() as signer:
        signer.lifecycle.admin_reset_password(personal_number, password, by="administrator")
    click.echo(f"password reset for {personal_number}")
