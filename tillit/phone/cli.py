"""`tillit-phone`: the customer's BankID app, simulated, with a scriptable mode for testers.

Profiles live under $TILLIT_HOME/phone/ (one file each, the device key sealed by the app PIN and a
secret the signer releases only to a right PIN: every unlock asks the signer, which locks the device
after five wrong PINs in a row; see phone/keystore.py).
PINs, codes and passwords are never read from argv: the app PIN comes from $TILLIT_PHONE_PIN, or the
first line of standard input with --pin-stdin, or a prompt; codes and passwords from prompts, which
read one line each from standard input when it is not a terminal.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import httpx

from tillit.cli_errors import OneLineErrors, require_terminal
from tillit.phone.account import Account, status_data, status_text, store_biometric
from tillit.phone.activation import METHODS, ActivationError, Activator
from tillit.phone.cli_answer import (
    CLAIM_EXIT_CODES,
    EXIT_CODES,
    Context,
    answer_command,
    claim_command,
    claim_options,
    fail,
    unlocked,
)
from tillit.phone.client import PhoneError
from tillit.phone.keystore import Keystore, KeystoreError
from tillit.phone.prompts import Prompter, PromptError, app_pin
from tillit.phone.qr import MalformedStart, parse_autostart_token, parse_qr_content
from tillit.phone.scripted import Exit, act
from tillit.signer.wire import InvalidPersonalNumber, parse_personal_number


@click.group(cls=OneLineErrors)
@click.version_option(package_name="tillit")
@click.option(
    "--profile",
    default="default",
    show_default=True,
    help="Which phone: each profile is its own device with its own key (letters, digits, - and _).",
)
@click.pass_context
def main(ctx: click.Context, profile: str) -> None:
    """The Tillit BankID app on a simulated phone.

    Activate it once (`activate`), then approve or decline requests on the phone screen (`watch`) or
    from a script (`approve`, `decline`); start a relying party's order with its QR code (`scan`) or
    autostart token (`autostart`). The app PIN comes from $TILLIT_PHONE_PIN, --pin-stdin, or a
    prompt; it is never taken from the command line.
    """
    ctx.obj = Context(profile=profile, keystore=Keystore())


# -- activate -------------------------------------------------------------------------------------


@main.command()
@click.option("--server", required=True, help="The signer's URL, e.g. http://127.0.0.1:8700.")
@click.option("--personal-number", required=True, help="The national identity number (11 digits).")
@click.option("--method", type=click.Choice(METHODS), required=True, help="How to prove it is you.")
@click.option("--device-name", default="phone", show_default=True, help="The name the bank shows for this phone.")
@click.option("--pin-stdin", is_flag=True, help="Read the new app PIN from the first line of standard input.")
@click.option("--replace", is_flag=True, help="Activate anew a profile that is already activated (new key).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_obj
def activate(
    ctx: Context,
    server: str,
    personal_number: str,
    method: str,
    device_name: str,
    pin_stdin: bool,
    replace: bool,
    as_json: bool,
) -> None:
    """Activate BankID on this phone: create the profile's device key, then prove it is you.

    \b
    sms-email   prompts: SMS code, E-mail code, BankID password
    codedevice  prompts: Code from code device, BankID password
    old-device  shows a reference to approve on the old phone, then BankID password

    Prompts read one line each from standard input when it is not a terminal. A wrong code or
    password is reported with the attempts left and asked again. Activating deactivates the
    customer's old phone at once. An activation that fails leaves the profile as it was (none, or
    the one --replace was to replace). Exit codes: 0 activated, 1 failed, 2 usage error.
    """
    prompter = Prompter()
    try:
        parse_personal_number(personal_number, allow_test_numbers=True)
    except InvalidPersonalNumber as e:
        fail(f"--personal-number: {e}", Exit.USAGE)
    if not server.startswith(("http://", "https://")):
        fail("--server must be an http:// or https:// URL", Exit.USAGE)
    try:
        if ctx.keystore.exists(ctx.profile) and ctx.keystore.load(ctx.profile).activated and not replace:
            fail(
                f"the profile '{ctx.profile}' is already activated; use another --profile, or --replace",
                Exit.USAGE,
            )
        pin = app_pin(prompter, pin_stdin, label="New app PIN (4 or more digits)", new=True)
    except (KeystoreError, PromptError) as e:
        fail(str(e), Exit.USAGE)
    with httpx.Client(timeout=30) as http:
        activator = Activator(
            keystore=ctx.keystore,
            profile_name=ctx.profile,
            server=server.rstrip("/"),
            personal_number=personal_number,
            method=method,
            device_name=device_name,
            prompter=prompter,
            http=http,
        )
        try:
            with _as_before_unless_done(ctx.keystore.path(ctx.profile)):
                profile = activator.run(pin)
        except ActivationError as e:
            fail(str(e), Exit.USAGE if e.usage else Exit.ERROR)
        except PromptError as e:
            fail(str(e), Exit.USAGE)
    if as_json:
        click.echo(json.dumps(status_data(profile, ctx.profile), ensure_ascii=False))
    else:
        click.echo(f"BankID is activated on this phone for {profile.customer_name} (profile {ctx.profile})")


@contextlib.contextmanager
def _as_before_unless_done(path: Path) -> Iterator[None]:
    """Put the profile file `path` back as it was (none, or the one before `--replace`) when the body
    raises: an activation makes the profile's new key before it asks the signer, and one that fails
    must leave no profile that is not activated behind, nor lose the one it was to replace."""
    before = path.read_bytes() if path.exists() else None
    try:
        yield
    except BaseException:
        if before is None:
            path.unlink(missing_ok=True)
        else:
            partial = path.with_name(f".{path.name}.{os.getpid()}.restore")
            with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
                f.write(before)
            os.replace(partial, path)
        raise


# -- approve / decline ----------------------------------------------------------------------------


def decide_command(ctx: Context, decision: str, wait: float, reference: str | None, pin_stdin: bool) -> None:
    if wait < 0:
        fail("--wait must be 0 or more seconds", Exit.USAGE)
    answer_command(
        ctx, pin_stdin, lambda client, profile: act(client, decision, wait, reference, biometric=profile.biometric)
    )


def _a_number(_ctx: click.Context, _param: click.Parameter, value: float) -> float:
    """click's FloatRange takes nan (no comparison is true of it): refuse it as out of range."""
    if value != value:
        raise click.BadParameter("not a number of seconds")
    return value


def decide_options(fn: Any) -> Any:
    fn = click.option("--pin-stdin", is_flag=True, help="Read the app PIN from the first line of standard input.")(fn)
    fn = click.option(
        "--reference", default=None, help="Only the request showing these words (as the kiosk shows them)."
    )(fn)
    fn = click.option(
        "--wait",
        type=click.FloatRange(0, 3600),
        default=0,
        show_default=True,
        callback=_a_number,
        help="Seconds to wait for a request to arrive (at most 3600).",
    )(fn)
    return fn


@main.command(epilog=EXIT_CODES)
@decide_options
@click.pass_obj
def approve(ctx: Context, wait: float, reference: str | None, pin_stdin: bool) -> None:
    """ "Ja, det er meg": approve the next pending request and print it as JSON.

    The JSON has orderRef, reference, kind, method, kioskName, userVisibleData, documents, decision
    and outcome. The app PIN is needed ($TILLIT_PHONE_PIN, --pin-stdin, or a prompt). A login without
    password (method "biometric") completes on this approval; with `biometric on`, the approval says
    the fingerprint was used.
    """
    decide_command(ctx, "approve", wait, reference, pin_stdin)


@main.command(epilog=EXIT_CODES)
@decide_options
@click.pass_obj
def decline(ctx: Context, wait: float, reference: str | None, pin_stdin: bool) -> None:
    """ "Nei, avvis": decline the next pending request and print it as JSON.

    The JSON has orderRef, reference, kind, method, kioskName, userVisibleData, documents, decision
    and outcome. The app PIN is needed ($TILLIT_PHONE_PIN, --pin-stdin, or a prompt).
    """
    decide_command(ctx, "decline", wait, reference, pin_stdin)


# -- scan / autostart ------------------------------------------------------------------------------


@main.command(epilog=CLAIM_EXIT_CODES)
@click.argument("qr_content")
@claim_options
@click.pass_obj
def scan(ctx: Context, qr_content: str, approve: bool, pin_stdin: bool) -> None:
    """Scan a BankID QR code: QR_CONTENT is what the animated code holds now,
    bankid.<qrStartToken>.<seconds>.<qrAuthCode> (pybankid's generate_qr_code_content).

    The signer checks the code (its HMAC, and that it is a few seconds old at most) and gives the
    order to this phone's customer; the request is shown (requester and text on standard error),
    approved (default) or declined, and printed as JSON as `approve` does. When the phone asks the
    BankID password (JSON "passwordBy": "phone"), it is prompted after the approval (one line of
    standard input when it is not a terminal) and asked again after a wrong one.
    """
    try:
        content = parse_qr_content(qr_content)
    except MalformedStart as e:
        fail(str(e), Exit.USAGE)
    claim_command(ctx, lambda client: client.scan(content.text), approve, pin_stdin)


@main.command(epilog=CLAIM_EXIT_CODES)
@click.argument("token")
@claim_options
@click.pass_obj
def autostart(ctx: Context, token: str, approve: bool, pin_stdin: bool) -> None:
    """Start the app with an order's autoStartToken (TOKEN, a UUID), as a relying party's page on the same
    device does; then as `scan`."""
    try:
        canonical = parse_autostart_token(token)
    except MalformedStart as e:
        fail(str(e), Exit.USAGE)
    claim_command(ctx, lambda client: client.autostart(canonical), approve, pin_stdin)


# -- status, biometric, watch ---------------------------------------------------------------------


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_obj
def status(ctx: Context, as_json: bool) -> None:
    """Whether this phone is activated, for whom and since when, and the requests it answered."""
    try:
        profile = ctx.keystore.load(ctx.profile) if ctx.keystore.exists(ctx.profile) else None
    except KeystoreError as e:
        fail(str(e), Exit.USAGE)
    data = status_data(profile, ctx.profile)
    click.echo(json.dumps(data, ensure_ascii=False, indent=2) if as_json else status_text(data))


@main.command()
@click.argument("state", type=click.Choice(["on", "off"]))
@click.option("--pin-stdin", is_flag=True, help="Read the app PIN from the first line of standard input.")
@click.pass_obj
def biometric(ctx: Context, state: str, pin_stdin: bool) -> None:
    """Turn login with the simulated fingerprint on or off (the app PIN is needed).

    The signer is told first (`POST /v1/app/settings`): with it on, a login without password
    can complete on this phone's approval, and "Ja, det er meg" asks for the fingerprint instead
    of the PIN. The profile keeps the setting only once the signer has stored it. Exit codes:
    0 done, 1 the signer refused or is unreachable, 2 usage error or a wrong app PIN,
    5 this phone has been deactivated. Nothing changes unless it exits 0.
    """
    on = state == "on"
    profile, client = unlocked(ctx, pin_stdin, Prompter())
    try:
        stored = client.settings(biometric=on).biometric
    except PhoneError as e:
        if e.status == 403 and e.code == "deviceDeactivated":
            fail(e.reason, Exit.DEACTIVATED)
        fail(f"the signer refused the setting: {e.reason}", Exit.ERROR)
    except httpx.HTTPError as e:
        fail(f"cannot reach the signer at {profile.server}: {e}", Exit.ERROR)
    finally:
        client.close()
    try:
        store_biometric(ctx.keystore, ctx.profile, stored)
    except KeystoreError as e:
        fail(str(e), Exit.ERROR)
    click.echo(f"biometric {'on' if stored else 'off'}")


@main.command()
@click.option("--pin-stdin", is_flag=True, help="Read the app PIN from the first line of standard input.")
@click.pass_obj
def watch(ctx: Context, pin_stdin: bool) -> None:
    """The phone screen: requests appear as they arrive; "Ja, det er meg" or "Nei, avvis"."""
    require_terminal("tillit-phone watch")
    profile, client = unlocked(ctx, pin_stdin, Prompter())
    from tillit.phone.app import PhoneApp  # Textual loads only for the screen, not for the scripted commands

    account = Account(ctx.keystore, ctx.profile)
    try:
        PhoneApp(
            client,
            owner=profile.customer_name or "",
            device=profile.device_name,
            check_pin=account.check_pin,
            biometric=profile.biometric,
            on_decided=account.remember,
            on_deactivated=account.deactivated,
            status=account.status,
            on_biometric=account.set_biometric,
        ).run()
    finally:
        client.close()
