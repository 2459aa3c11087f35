"""Answering a request from the command line: what `approve`, `decline`, `scan` and `autostart` share.

`unlocked` opens the profile's device key (the signer checks the app PIN); `answer_command` answers
a request with it, then gives the BankID password when the phone asks it (`passwordBy` "phone": the
relying parties' orders), records the result in the profile, prints the request as JSON and exits
with the result's code (`EXIT_CODES`, `CLAIM_EXIT_CODES`). `show_request` writes the requester and
the text to approve (simpleMarkdownV1 rendered) to standard error before a claimed request is answered.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import click
import httpx

from tillit.phone.client import PhoneClient, PhoneError
from tillit.phone.keystore import (
    DeviceDeactivated,
    DeviceLocked,
    Keystore,
    KeystoreError,
    Profile,
    SignerUnreachable,
)
from tillit.phone.prompts import Prompter, PromptError, app_pin
from tillit.phone.scripted import Exit, Result, claim, give_password
from tillit.phone.visible_text import plain_text
from tillit.signer.wire import AppRequest

EXIT_CODES = """\b
Exit codes:
  0  done: the request was approved (or declined)
  1  another error (the signer unreachable, the request answered elsewhere, ...)
  2  usage error, no such profile, not activated, or a wrong app PIN (the signer checks it and
     says how many attempts are left; no request was answered)
  3  nothing pending (after waiting --wait seconds)
  4  the request expired before the decision reached the signer
  5  this phone has been deactivated (BankID activated on another device, blocked, or deactivated
     by the bank: the message says which), or locked after five wrong app PINs in a row
  6  the BankID password (asked by the phone for the relying parties' orders) locked after too
     many wrong ones: the order failed
"""

CLAIM_EXIT_CODES = """\b
Exit codes:
  0  done: the request was approved (and its password accepted, when the phone asks it) or declined
  1  another error (the signer unreachable, the order claimed by another phone or meant for
     another customer, ...)
  2  usage error: not a QR code or token in BankID's shape, or the signer says it is not a real
     one; a wrong app PIN; no password on standard input
  3  no such order, or it is over
  4  the QR code is too old (scan the one shown now), or the request expired
  5  this phone has been deactivated, or locked after five wrong app PINs in a row
  6  the BankID password locked after too many wrong ones: the order failed
"""


@dataclass
class Context:
    profile: str
    keystore: Keystore


def fail(message: str, code: int = Exit.ERROR) -> NoReturn:
    click.echo(f"tillit-phone: {message}", err=True)
    sys.exit(code)


def unlocked(ctx: Context, pin_stdin: bool, prompter: Prompter) -> tuple[Profile, PhoneClient]:
    """The activated profile and a client holding its unlocked key (the signer checks the PIN).

    Exit 2 for a user error or a wrong PIN (with the attempts left), 5 when the signer says the
    device is deactivated or locked (kept in the profile), 1 when the signer cannot be reached."""
    try:
        profile = ctx.keystore.load(ctx.profile)
        if not profile.activated or profile.device_id is None:
            fail(f"the profile '{ctx.profile}' is not activated (run `tillit-phone activate` first)", Exit.USAGE)
        pin = app_pin(prompter, pin_stdin)
        if not pin.isdigit():  # never sent: the signer would count it as a wrong PIN
            fail("the app PIN is digits only (TILLIT_PHONE_PIN, --pin-stdin or the prompt): nothing tried", Exit.USAGE)
        key = profile.unlock(pin)
    except (DeviceDeactivated, DeviceLocked) as e:
        locked, reason = isinstance(e, DeviceLocked), str(e)

        def change(p: Profile) -> None:
            p.deactivated_at = p.deactivated_at or time.time()
            p.deactivated_reason = reason
            if locked:
                p.locked_at = p.locked_at or time.time()

        ctx.keystore.update(ctx.profile, change)
        fail(str(e), Exit.DEACTIVATED)
    except SignerUnreachable as e:
        fail(str(e), Exit.ERROR)
    except (KeystoreError, PromptError) as e:
        fail(str(e), Exit.USAGE)
    return profile, PhoneClient(profile.server, profile.device_id, key)


def answer_command(ctx: Context, pin_stdin: bool, answer: Callable[[PhoneClient, Profile], Result]) -> None:
    """Unlock, `answer` a request, then give the BankID password when the phone asks it (`passwordBy`
    "phone"); record the result, print the request as JSON and exit with the result's code."""
    prompter = Prompter()
    profile, client = unlocked(ctx, pin_stdin, prompter)
    try:
        result = answer(client, profile)
        approved = result.request if result.exit == Exit.DONE and result.decision == "approve" else None
        if approved is not None and approved.password_by == "phone":  # noqa: S105 (who asks it, not a password)
            result = password_step(client, approved, prompter)
    except PhoneError as e:
        fail(e.reason, Exit.ERROR)
    except httpx.HTTPError as e:
        fail(f"cannot reach the signer at {profile.server}: {e}", Exit.ERROR)
    finally:
        client.close()
    record(ctx, result)
    if result.request is not None:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False))
    if result.exit != Exit.DONE:
        fail(result.message, result.exit)
    click.echo(f"tillit-phone: {result.message}", err=True)


def password_step(client: PhoneClient, request: AppRequest, prompter: Prompter) -> Result:
    """The BankID password, asked by the phone after it approved (a prompt: one line of standard input
    when it is not a terminal); after a wrong one the attempts left are said and it is asked again."""
    try:
        return give_password(client, request, lambda: prompter.secret("BankID password"), prompter.say)
    except PromptError as e:
        waiting = f"{e} (the request is approved and waits for the password until it expires)"
        return Result(Exit.USAGE, waiting, request, "approve")


def record(ctx: Context, result: Result) -> None:
    """Every decision goes into the profile's history; learning of a deactivation is kept too."""

    def change(profile: Profile) -> None:
        if result.request is not None:
            entry = result.as_json()
            profile.remember(
                {k: entry[k] for k in ("orderRef", "reference", "kind", "method", "kioskName", "decision", "outcome")}
            )
        if result.exit == Exit.DEACTIVATED and profile.deactivated_at is None:
            profile.deactivated_at = time.time()

    if result.request is not None or result.exit == Exit.DEACTIVATED:
        ctx.keystore.update(ctx.profile, change)


def claim_options(fn: Any) -> Any:
    fn = click.option("--pin-stdin", is_flag=True, help="Read the app PIN from the first line of standard input.")(fn)
    fn = click.option(
        "--approve/--decline",
        "approve",
        default=True,
        show_default=True,
        help='"Ja, det er meg" or "Nei, avvis" for the request it starts.',
    )(fn)
    return fn


def show_request(request: AppRequest) -> None:
    """The request as the phone shows it before the answer: the requester, then the text to approve."""
    text = plain_text(request.user_visible_data, request.user_visible_data_format)
    lines = [f"tillit-phone: {request.kind} request from {request.kiosk_name}:", *text.splitlines()]
    click.echo("\n    ".join(lines), err=True)


def claim_command(ctx: Context, start: Callable[[PhoneClient], AppRequest], approve: bool, pin_stdin: bool) -> None:
    decision = "approve" if approve else "decline"
    answer_command(
        ctx, pin_stdin, lambda client, profile: claim(client, start, decision, profile.biometric, show_request)
    )
