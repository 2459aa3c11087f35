"""Activating the app on this phone, the three ways the bank offers (the app's side of it).

1. `sms-email`: the signer sends a code by SMS and a code by e-mail; the app asks for "SMS code",
   "E-mail code" and "BankID password", in that order.
2. `codedevice`: the app asks for "Code from code device" and "BankID password".
3. `old-device`: the app shows a two-word reference; the customer approves the new phone in the app on
   the old one; then the app asks for "BankID password".

The new device key is generated here and sealed under the app PIN and a fresh server secret before
anything is sent; only its public half leaves the phone, and the phone proves it holds the private
half by signing `activation_proof_message(activationId)`. Once activated, the phone registers its
app PIN with the signer (`POST /v1/app/pin`, signed by the new device key: the unlock key, the PIN
verifier and the server secret, see phone/keystore.py); from then on the key opens only with the
signer's help, which counts wrong PINs. A wrong code is reported with the attempts left (the signer
ends the activation after five), a wrong password likewise, and then the whole round is asked again,
the same prompts in the same order (with a code device, a fresh code: each works once). When the
signer's answer to the start says `"delivery": "outbox"` (a demo signer that keeps the messages in
its outbox), the app says the codes are read with `tillit-signer outbox list`.

Old device: the signer answers `complete` with 409 `notApproved` until the old phone has approved, but
it checks the password as soon as it has, so polling with a made-up password would count a wrong
password against the customer. Where the signer accepts `complete` without a password (it then
answers 202 once the old phone has approved, counting nothing), the app waits first and asks for the
password after; with a signer that requires the password on every call, the app asks for the password
first and then waits, sending it with each poll (the signer only looks at it after the approval).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from tillit.phone.client import PhoneClient, PhoneError, raise_for_error, sign_bytes
from tillit.phone.keystore import Keystore, KeystoreError, Profile
from tillit.phone.prompts import Prompter
from tillit.signer.wire import CODE_PATTERN, activation_proof_message

METHODS = ("sms-email", "codedevice", "old-device")
SMS_CODE = "SMS code"
EMAIL_CODE = "E-mail code"
DEVICE_CODE = "Code from code device"
PASSWORD = "BankID password"  # noqa: S105 (a prompt, not a password)


class ActivationError(Exception):
    """The activation did not succeed; `usage` marks the user's mistakes (exit code 2)."""

    def __init__(self, message: str, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


@dataclass
class Activator:
    """One activation of one profile; `run()` returns the activated profile."""

    keystore: Keystore
    profile_name: str
    server: str
    personal_number: str
    method: str
    device_name: str
    prompter: Prompter
    http: httpx.Client
    connect_wait: float = 15.0
    sleep: Callable[[float], None] = time.sleep

    def run(self, pin: str) -> Profile:
        if self.method not in METHODS:
            raise ActivationError(f"--method must be one of {', '.join(METHODS)}", usage=True)
        try:
            profile, key = self.keystore.create(self.profile_name, pin, self.server)
        except KeystoreError as e:
            raise ActivationError(str(e), usage=True) from None
        started = self._start(profile)
        activation_id = str(started["activationId"])
        proof = sign_bytes(key, activation_proof_message(activation_id))
        if self.method == "old-device":
            done = self._old_device(activation_id, proof, str(started.get("reference", "")))
        else:
            done = self._with_codes(activation_id, proof, started.get("delivery") == "outbox")
        profile.device_id = str(done["deviceId"])
        self._register_pin(profile, key)
        profile.personal_number = self.personal_number
        profile.customer_name = str(done.get("customer", {}).get("name", "")) or None
        profile.device_name = self.device_name
        profile.activated_at = float(done.get("activatedAt") or time.time())
        self.keystore.save(profile)
        return profile

    def _register_pin(self, profile: Profile, key: ec.EllipticCurvePrivateKey) -> None:
        """Give the signer what it checks the app PIN by; until then the new device key opens for nobody."""
        assert profile.device_id is not None and profile.pending_pin is not None
        try:
            PhoneClient(self.server, profile.device_id, key, http=self.http).register_pin(
                profile.pending_pin.registration()
            )
        except PhoneError as e:
            raise ActivationError(f"the signer did not take the app PIN ({e.reason}); activate again") from None
        except httpx.HTTPError as e:
            raise ActivationError(f"cannot reach the signer at {self.server}: {e}; activate again") from None
        profile.pending_pin = None

    # -- HTTP -------------------------------------------------------------------------------------

    def _post(self, path: str, payload: dict[str, Any]) -> httpx.Response:
        """POST, waiting up to `connect_wait` seconds for a signer that is still starting."""
        deadline = time.monotonic() + self.connect_wait
        told = False
        delay = 0.05
        while True:
            try:
                return self.http.post(self.server + path, json=payload)
            except httpx.ConnectError as e:
                if time.monotonic() + delay > deadline:
                    raise ActivationError(f"cannot reach the signer at {self.server}: {e}") from None
                if not told:
                    self.prompter.say(f"waiting for the signer at {self.server} ...")
                    told = True
                self.sleep(delay)
                delay = min(delay * 2, 0.5)
            except httpx.HTTPError as e:
                raise ActivationError(f"cannot reach the signer at {self.server}: {e}") from None

    def _start(self, profile: Profile) -> dict[str, Any]:
        response = self._post(
            "/v1/app/activations",
            {
                "personalNumber": self.personal_number,
                "method": self.method,
                "deviceName": self.device_name,
                "publicKey": profile.public_key_pem,
            },
        )
        try:
            raise_for_error(response)
        except PhoneError as e:
            raise ActivationError(e.reason) from None
        return dict(response.json())

    def _complete(self, activation_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The status and body of one `complete` call; PhoneError for 4xx/5xx."""
        response = self._post(f"/v1/app/activations/{activation_id}/complete", body)
        raise_for_error(response)
        return response.status_code, dict(response.json())

    # -- the code ways ----------------------------------------------------------------------------

    def _answers(self) -> dict[str, str]:
        """One round of prompts, always the same ones in the same order: the codes, then the password."""
        if self.method == "sms-email":
            codes = {"smsCode": self.prompter.secret(SMS_CODE), "emailCode": self.prompter.secret(EMAIL_CODE)}
        else:
            codes = {"code": self.prompter.secret(DEVICE_CODE)}
        return {**codes, "password": self.prompter.secret(PASSWORD)}

    def _with_codes(self, activation_id: str, proof: str, outbox: bool) -> dict[str, Any]:
        """Ask, send, and after a wrong code or password ask the whole round again: a person typing
        ahead, or a script feeding lines, never sends a password to a code's prompt or to the shell."""
        if outbox:
            self.prompter.say(
                "The signer does not send SMS or e-mail in this demo: read the codes with"
                " `tillit-signer outbox list` (on the signer's machine)"
            )
        while True:
            answers = self._answers()
            mistyped = [name for name in ("smsCode", "emailCode", "code") if not _a_code(answers.get(name, "0"))]
            if mistyped:  # not sent: the signer would end the activation on it
                words = {"smsCode": "the SMS code", "emailCode": "the e-mail code", "code": "the code"}
                self.prompter.say(
                    f"tillit-phone: {' and '.join(words[m] for m in mistyped)} must be digits only; nothing was sent"
                )
                self.prompter.say(f"tillit-phone: type {self._round_words()} again")
                continue
            try:
                return self._complete(activation_id, {"proof": proof, **answers})[1]
            except PhoneError as e:
                if e.code == "wrongActivationCode":
                    which = (
                        "the SMS code or the e-mail code is wrong (the signer does not say which)"
                        if self.method == "sms-email"
                        else "the code from the code device is wrong"
                    )
                    self.prompter.say(f"tillit-phone: {e.reason}: {which}; the password was not checked")
                elif e.code == "wrongPassword":
                    self.prompter.say(f"tillit-phone: {e.reason}")
                    if self.method == "codedevice":
                        self.prompter.say("tillit-phone: each code works once; type the code device's next code")
                else:
                    raise ActivationError(e.reason) from None
                self.prompter.say(f"tillit-phone: type {self._round_words()} again")

    def _round_words(self) -> str:
        if self.method == "sms-email":
            return "the SMS code, the e-mail code and the password"
        return "a code from the code device and the password"

    # -- the old phone ----------------------------------------------------------------------------

    def _old_device(self, activation_id: str, proof: str, reference: str) -> dict[str, Any]:
        self.prompter.say(f"Reference: {reference}")
        self.prompter.say("Approve the new phone in the BankID app on your old phone; the reference must match.")
        password: str | None = None
        try:
            status, body = self._complete(activation_id, {"proof": proof})
            if status == 200 and "deviceId" in body:
                return body
            approved = True  # 202: this signer waits without a password, and the old phone has approved
        except PhoneError as e:
            if e.code == "invalidParameters" and "password" in e.reason:
                password = self.prompter.secret(PASSWORD)  # this signer needs the password on every call
            elif e.code != "notApproved":
                raise ActivationError(e.reason) from None
            approved = False
        delay = 0.1
        if not approved:
            self.prompter.say("Waiting for the approval on your old phone ...")
        while True:
            if approved and password is None:
                password = self.prompter.secret(PASSWORD)
            body_out: dict[str, Any] = {"proof": proof}
            if password is not None:
                body_out["password"] = password
            try:
                status, body = self._complete(activation_id, body_out)
            except PhoneError as e:
                if e.code == "notApproved":
                    self.sleep(delay)
                    delay = min(delay * 1.5, 1.0)
                    continue
                if e.code == "wrongPassword":
                    self.prompter.say(f"tillit-phone: {e.reason}")
                    password = self.prompter.secret(PASSWORD)
                    continue
                raise ActivationError(e.reason) from None
            if "deviceId" in body:
                return body
            approved = True


def _a_code(text: str) -> bool:
    """Whether `text` can be an activation code as the signer takes one (`wire.CODE_PATTERN`)."""
    return re.fullmatch(CODE_PATTERN, text) is not None
