"""What the app knows about its activation, shared by `tillit-phone status` and the "Min BankID" screen.

`status_data(profile, name)` is the profile as `status --json` prints it and the screen shows it;
`Account` is one profile of a keystore as the running app uses it (PIN check by the signer, history,
the biometric setting once the signer has stored it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tillit.phone.keystore import Keystore, Profile


def when(seconds: float | None) -> str | None:
    """Unix seconds as a local ISO 8601 time with its offset (what `status --json` prints)."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds).astimezone().isoformat(timespec="seconds")


def mask_personal_number(number: str | None) -> str:
    """The birth date only: "13897248098" -> "138972*****"."""
    if not number:
        return ""
    return number[:6] + "*" * (len(number) - 6)


def status_data(profile: Profile | None, name: str) -> dict[str, Any]:
    if profile is None:
        return {"profile": name, "exists": False, "activated": False}
    return {
        "profile": name,
        "exists": True,
        "activated": profile.activated and profile.deactivated_at is None,
        "deactivated": profile.deactivated_at is not None,
        "deactivatedAt": when(profile.deactivated_at),
        "deactivatedReason": profile.deactivated_reason if profile.deactivated_at is not None else None,
        "locked": profile.locked_at is not None,
        "customerName": profile.customer_name,
        "personalNumber": profile.personal_number,
        "personalNumberMasked": mask_personal_number(profile.personal_number) or None,
        "activatedAt": when(profile.activated_at),
        "deviceName": profile.device_name,
        "deviceId": profile.device_id,
        "server": profile.server,
        "biometric": profile.biometric,
        "history": [{**entry, "at": when(entry.get("at"))} for entry in profile.history],
    }


def status_text(data: dict[str, Any]) -> str:
    name = data["profile"]
    if not data["exists"]:
        return f"Profile {name}: no such profile (activate it with `tillit-phone --profile {name} activate`)"
    if data.get("locked"):
        state = f"locked on {data['deactivatedAt']} after five wrong app PINs in a row (activate BankID again)"
    elif data["deactivated"]:
        why = data.get("deactivatedReason") or "it can approve nothing; activate BankID again"
        state = f"deactivated on {data['deactivatedAt']}: {why}"
    else:
        state = "activated" if data["activated"] else "not activated"
    lines = [f"Profile {name}: {state}"]
    if data["deviceId"]:
        lines += [
            f"  BankID for  {data['customerName']} ({data['personalNumber']})",
            f"  since       {data['activatedAt']}",
            f"  device      {data['deviceName']} ({data['deviceId']})",
        ]
    lines += [f"  server      {data['server']}", f"  biometric   {'on' if data['biometric'] else 'off'}"]
    if data["history"]:
        lines.append("  last requests:")
        for e in data["history"][:10]:
            verb = {"approve": "approved", "decline": "declined"}.get(e.get("decision") or "", "?")
            note = "" if e.get("outcome") == "done" else f" ({e.get('outcome')})"
            kind = e.get("kind", "") + (", without password" if e.get("method") == "biometric" else "")
            what = f"{e.get('reference', '')}  {e.get('kioskName', '')}  [{kind}]"
            lines.append(f"    {e['at']}  {verb}{note}  {what}")
    else:
        lines.append("  no requests answered yet")
    return "\n".join(lines)


def store_biometric(keystore: Keystore, name: str, on: bool) -> Profile:
    """Keep the biometric setting in the profile: call only once the signer has stored it."""

    def change(profile: Profile) -> None:
        profile.biometric = on

    return keystore.update(name, change)


@dataclass
class Account:
    """One profile of a keystore as the running phone app uses it (`tillit-phone watch`, tests)."""

    keystore: Keystore
    name: str

    def check_pin(self, pin: str) -> bool:
        """True when the signer accepts the PIN (one round trip; it counts wrong ones). A refusal
        raises the keystore's error, which says why: WrongPin (with the attempts left), DeviceLocked,
        DeviceDeactivated, SignerUnreachable; the screens show it (phone/screens/pin.py)."""
        self.keystore.load(self.name).unlock(pin)
        return True

    def status(self) -> dict[str, Any]:
        profile = self.keystore.load(self.name) if self.keystore.exists(self.name) else None
        return status_data(profile, self.name)

    def remember(self, entry: dict[str, Any]) -> None:
        self.keystore.remember(self.name, entry)

    def deactivated(self) -> None:
        def change(profile: Profile) -> None:
            profile.deactivated_at = profile.deactivated_at or time.time()

        self.keystore.update(self.name, change)

    def set_biometric(self, on: bool) -> None:
        store_biometric(self.keystore, self.name, on)
