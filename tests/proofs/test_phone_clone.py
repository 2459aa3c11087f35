"""A copy of the phone's files does not give up the device key (finding M6), against the real daemon.

The attack: copy a profile file (phone/keystore.py) and try app PINs on it. Offline, the file alone
must not tell a right PIN from a wrong one (no oracle to brute-force a 4-digit PIN against). Online,
every guess goes to the signer (signer/device_pins.py), which counts wrong PINs per device in one
transaction: of any number of concurrent guesses at most five are checked, then the device is locked
for good (the right PIN no longer opens it, it approves nothing, no login can be started for it); a
right PIN before that sets the count back to 0.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from tests.daemon import Daemon, free_port, make_daemon, tool
from tests.factories import fresh_adult
from tests.proofs.common import audit_verify, figures, query
from tillit.phone.client import PhoneClient, signed_headers
from tillit.phone.keystore import DeviceLocked, Keystore, SignerUnreachable, WrongPin
from tillit.signer.wire import PIN_ATTEMPTS, UNLOCK_PATH

pytestmark = pytest.mark.integration

PIN = "2580"


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    daemon = make_daemon(tmp_path_factory.mktemp("clone") / "home")
    daemon.start()
    yield daemon
    daemon.stop()


@dataclass
class Phone:
    number: str
    keystore: Keystore
    device_id: str
    key: ec.EllipticCurvePrivateKey  # what the owner's unlocked app holds in memory

    @property
    def file(self) -> Path:
        return self.keystore.path("kari")

    def client(self) -> PhoneClient:
        return PhoneClient(self.keystore.load("kari").server, self.device_id, self.key)


def new_phone(d: Daemon, folder: Path) -> Phone:
    """An enrolled customer whose phone profile is bound to the signer and has registered its PIN, as
    `tillit-phone activate` leaves it (here the device is added with the administrator's command)."""
    number = fresh_adult()
    d.enrol(number)
    keystore = Keystore(folder)
    profile, key = keystore.create("kari", PIN, d.url)
    pem = folder / "device.pem"
    pem.write_text(profile.public_key_pem)
    added = d.run("tillit-signer", "customers", "add-device", number, "--public-key", str(pem), "--json")
    device_id = str(json.loads(added.stdout)["id"])
    assert profile.pending_pin is not None
    client = PhoneClient(d.url, device_id, key)
    try:
        client.register_pin(profile.pending_pin.registration())
    finally:
        client.close()
    keystore.update("kari", lambda p: setattr(p, "device_id", device_id))
    return Phone(number, keystore, device_id, key)


def steal(phone: Phone, thief: Path) -> Keystore:
    """The thief's copy of the profile file, in a folder of their own."""
    thief.mkdir(parents=True, exist_ok=True)
    shutil.copy(phone.file, thief / phone.file.name)
    return Keystore(thief)


def offline_oracle(profile_file: Path, pin: str) -> bool:
    """Whether the file alone confirms `pin`: every way it could be opened with the PIN and what the
    file holds (the scrypt key itself, as before the fix; HKDF of it with no or an all-zero secret;
    the unlock key as the missing secret). True if any opens the sealed device key."""
    data = json.loads(profile_file.read_text())
    sealed = data["sealed_key"]
    salt, nonce = base64.b64decode(sealed["salt"]), base64.b64decode(sealed["nonce"])
    ciphertext = base64.b64decode(sealed["ciphertext"])
    pin_key = Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(pin.encode())
    unlock_pem = (data.get("unlock_key") or "").encode()
    candidates = [pin_key]
    for extra in (b"", bytes(32), unlock_pem):
        for info in (b"tillit device key wrap", b""):
            candidates.append(HKDF(hashes.SHA256(), 32, None, info).derive(pin_key + extra))
    for key in candidates:
        try:
            AESGCM(key).decrypt(nonce, ciphertext, data["name"].encode())
        except InvalidTag:
            continue
        return True
    return False


def unlock_status(keystore: Keystore, pin: str) -> tuple[int, dict[str, object]]:
    """`POST /v1/app/unlock` from a (copied) profile: the status and the body, for the thief's tally."""
    profile = keystore.load("kari")
    assert profile.unlock_key is not None and profile.device_id is not None
    unlock_key = serialization.load_pem_private_key(profile.unlock_key.encode(), password=None)
    assert isinstance(unlock_key, ec.EllipticCurvePrivateKey)
    salt = base64.b64decode(profile.sealed_key["salt"])
    pin_key = Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(pin.encode())
    verifier = HKDF(hashes.SHA256(), 32, None, b"tillit app PIN verifier").derive(pin_key)
    body = json.dumps({"pinVerifier": base64.b64encode(verifier).decode()}).encode()
    headers = {**signed_headers(profile.device_id, unlock_key, "POST", UNLOCK_PATH, body)}
    headers["Content-Type"] = "application/json"
    response = httpx.post(profile.server + UNLOCK_PATH, content=body, headers=headers, timeout=30)
    return response.status_code, response.json()


def pin_row(d: Daemon, device_id: str) -> tuple[int, float | None, str]:
    row = query(
        d,
        "SELECT p.failures, p.locked_at, v.status FROM device_pins p JOIN devices v ON v.id = p.device_id"
        " WHERE p.device_id=?",
        (device_id,),
    )[0]
    return int(row[0]), row[1], str(row[2])


# -- offline: the file decides nothing -------------------------------------------------------------


def test_a_copied_profile_cannot_tell_the_right_pin_offline(d: Daemon, tmp_path: Path) -> None:
    phone = new_phone(d, tmp_path / "owner")
    thief = steal(phone, tmp_path / "thief")
    copied = thief.path("kari")
    # Every offline use of the file, with the right PIN and wrong ones alike: none opens the key.
    tried = {pin: offline_oracle(copied, pin) for pin in (PIN, "0000", "1234", "9999")}
    assert tried == {PIN: False, "0000": False, "1234": False, "9999": False}
    # The app's own unlock, with the signer out of reach: the same answer for the right PIN and a wrong one.
    thief.update("kari", lambda p: setattr(p, "server", f"http://127.0.0.1:{free_port()}"))
    answers = set()
    for pin in (PIN, "0000"):
        with pytest.raises(SignerUnreachable) as refused:
            thief.load("kari").unlock(pin)
        answers.add(str(refused.value))
    assert len(answers) == 1
    # Nothing of the secret the signer keeps, nor of the PIN's verifier, is in the file.
    secret, verifier_hash = query(
        d, "SELECT server_secret, verifier_hash FROM device_pins WHERE device_id=?", (phone.device_id,)
    )[0]
    text = copied.read_text()
    assert base64.b64encode(secret).decode() not in text and verifier_hash not in text and secret.hex() not in text
    # While the owner's copy opens (the signer checked the PIN), and counted nothing.
    started = time.perf_counter()
    assert phone.keystore.load("kari").unlock(PIN).private_numbers() == phone.key.private_numbers()
    unlock_seconds = time.perf_counter() - started
    assert pin_row(d, phone.device_id) == (0, None, "active")
    figures(
        "phone clone (M6)",
        offline_candidates_per_pin=7,
        pins_tried_offline=len(tried),
        owner_unlock_seconds=round(unlock_seconds, 3),
    )


# -- online: five guesses, then locked --------------------------------------------------------------


def test_concurrent_online_guesses_get_five_then_the_device_is_locked(d: Daemon, tmp_path: Path) -> None:
    phone = new_phone(d, tmp_path / "owner")
    thief = steal(phone, tmp_path / "thief")
    with d.kiosk() as k:
        pending = k.post("/v1/auth", json={"personalNumber": phone.number}).json()["orderRef"]
    guesses = [f"{n:04d}" for n in range(1000, 1016)]  # 16 wrong PINs at once
    start = threading.Barrier(len(guesses))
    answers: list[tuple[int, dict[str, object]]] = []
    lock = threading.Lock()

    def guess(pin: str) -> None:
        start.wait()
        answer = unlock_status(thief, pin)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=guess, args=(pin,)) for pin in guesses]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    codes = sorted((status, str(body["error"])) for status, body in answers)
    wrong = [body for status, body in answers if body["error"] == "wrongPin"]
    locked = [body for status, body in answers if body["error"] == "deviceLocked"]
    assert len(answers) == len(guesses) and len(wrong) + len(locked) == len(guesses), codes
    assert len(wrong) == PIN_ATTEMPTS - 1  # the fifth wrong PIN is the one that locks
    assert sorted(int(str(b["attemptsLeft"])) for b in wrong) == list(range(1, PIN_ATTEMPTS))
    assert all(status == 401 for status, body in answers if body["error"] == "wrongPin")
    assert all(status == 403 and "locked" in str(body["reason"]) for status, body in answers if body in locked)
    # Exactly five were checked and counted; the device is locked, in the same transaction.
    failures, locked_at, device_status = pin_row(d, phone.device_id)
    assert failures == PIN_ATTEMPTS and locked_at is not None and device_status == "locked"
    audited = query(d, "SELECT COUNT(*) FROM audit WHERE event='device.pin_wrong' AND subject=?", (phone.device_id,))
    assert audited[0][0] == PIN_ATTEMPTS
    # The right PIN no longer opens it, neither from the copy nor on the owner's phone.
    assert unlock_status(thief, PIN)[0] == 403
    with pytest.raises(DeviceLocked, match="locked after 5 wrong app PINs"):
        phone.keystore.load("kari").unlock(PIN)
    # Even with the key in hand (the owner's app had it unlocked): it approves nothing ...
    client = phone.client()
    try:
        assert client.requests().device_status != "active"
        approve = client.request(
            "POST", f"/v1/app/requests/{pending}", {"decision": "approve", "signature": "AAAA", "biometric": True}
        )
        assert approve.status_code == 403 and approve.json()["error"] == "deviceDeactivated"
    finally:
        client.close()
    # ... and no login, with or without password, can be started for it.
    with d.kiosk() as k:
        assert k.post("/v1/collect", json={"orderRef": pending}).json()["status"] != "complete"
        for method in ("app", "biometric"):
            started = k.post("/v1/auth", json={"personalNumber": phone.number, "method": method})
            if started.status_code == 200:
                collected = k.post("/v1/collect", json={"orderRef": started.json()["orderRef"]}).json()
                assert collected["status"] == "failed" and collected["hintCode"] == "noDevice", collected
            else:
                assert 400 <= started.status_code < 500, started.text
    audit_verify(d)
    figures("phone clone (M6)", concurrent_wrong_pins=len(guesses), wrong_pins_checked=failures)


def test_a_right_pin_resets_the_count_but_never_unlocks_a_locked_device(d: Daemon, tmp_path: Path) -> None:
    phone = new_phone(d, tmp_path / "owner")
    owner = phone.keystore
    for round_ in range(3):  # 4 wrong, then right: never locked, however many rounds
        for n in range(PIN_ATTEMPTS - 1):
            with pytest.raises(WrongPin) as wrong:
                owner.load("kari").unlock(f"{n:04d}")
            assert wrong.value.attempts_left == PIN_ATTEMPTS - 1 - n
        assert pin_row(d, phone.device_id)[0] == PIN_ATTEMPTS - 1
        assert owner.load("kari").unlock(PIN).private_numbers() == phone.key.private_numbers(), round_
        assert pin_row(d, phone.device_id) == (0, None, "active")
    for n in range(PIN_ATTEMPTS - 1):
        with pytest.raises(WrongPin):
            owner.load("kari").unlock(f"{n:04d}")
    with pytest.raises(DeviceLocked):
        owner.load("kari").unlock("4444")  # the fifth in a row
    with pytest.raises(DeviceLocked):
        owner.load("kari").unlock(PIN)
    assert pin_row(d, phone.device_id)[:1] == (PIN_ATTEMPTS,)


def test_the_cli_says_the_attempts_left_and_then_that_the_phone_is_locked(d: Daemon, tmp_path: Path) -> None:
    home = tmp_path / "home"
    phone = new_phone(d, home / "phone")
    env = {**d.env, "TILLIT_HOME": str(home)}

    def approve(pin: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [tool("tillit-phone"), "--profile", "kari", "approve"],
            env={**env, "TILLIT_PHONE_PIN": pin},
            capture_output=True,
            text=True,
            timeout=60,
        )

    for left in range(PIN_ATTEMPTS - 1, 0, -1):
        wrong = approve("1111")
        assert wrong.returncode == 2, wrong.stderr
        assert f"wrong app PIN: {left} attempt" in wrong.stderr and "1111" not in wrong.stderr
    locked = approve("1111")
    assert locked.returncode == 5 and "locked" in locked.stderr, locked.stderr
    again = approve(PIN)
    assert again.returncode == 5 and "locked" in again.stderr
    status = json.loads(
        subprocess.run(
            [tool("tillit-phone"), "--profile", "kari", "status", "--json"], env=env, capture_output=True, text=True
        ).stdout
    )
    assert status["locked"] and not status["activated"]
    assert pin_row(d, phone.device_id)[2] == "locked"


# -- bad input: a clear 4xx, nothing counted --------------------------------------------------------


def test_malformed_and_replayed_unlocks_are_refused_and_count_nothing(d: Daemon, tmp_path: Path) -> None:
    phone = new_phone(d, tmp_path / "owner")
    profile = phone.keystore.load("kari")
    assert profile.unlock_key is not None
    unlock_key = serialization.load_pem_private_key(profile.unlock_key.encode(), password=None)
    assert isinstance(unlock_key, ec.EllipticCurvePrivateKey)

    def post(body: bytes, key: ec.EllipticCurvePrivateKey = unlock_key) -> httpx.Response:
        headers = {
            **signed_headers(phone.device_id, key, "POST", UNLOCK_PATH, body),
            "Content-Type": "application/json",
        }
        return httpx.post(d.url + UNLOCK_PATH, content=body, headers=headers, timeout=30)

    for body in (b"{}", b"not json", b'{"pinVerifier": "!!"}', b'{"pinVerifier": "AAAA"}'):
        refused = post(body)
        assert refused.status_code == 400 and refused.json()["error"] == "invalidParameters", refused.text
        assert refused.json()["reason"]
    by_device_key = post(b'{"pinVerifier": "AAAA"}', phone.key)  # the device key is not the unlock key
    assert by_device_key.status_code == 401 and by_device_key.json()["error"] == "unauthorized"
    unsigned = httpx.post(d.url + UNLOCK_PATH, json={"pinVerifier": "AAAA"}, timeout=30)
    assert unsigned.status_code == 401
    body = json.dumps({"pinVerifier": base64.b64encode(bytes(32)).decode()}).encode()
    headers = {
        **signed_headers(phone.device_id, unlock_key, "POST", UNLOCK_PATH, body),
        "Content-Type": "application/json",
    }
    first = httpx.post(d.url + UNLOCK_PATH, content=body, headers=headers, timeout=30)
    assert first.status_code == 401 and first.json()["error"] == "wrongPin" and first.json()["attemptsLeft"] == 4
    replayed = httpx.post(d.url + UNLOCK_PATH, content=body, headers=headers, timeout=30)
    assert replayed.status_code == 401 and "replay" in replayed.json()["reason"]
    assert pin_row(d, phone.device_id) == (1, None, "active")  # the one wrong PIN, nothing else
    # A PIN record is registered once: it cannot be replaced to reset the count.
    client = phone.client()
    try:
        again = client.request(
            "POST",
            "/v1/app/pin",
            {"unlockKey": profile.public_key_pem, "pinVerifier": "A" * 43 + "=", "serverSecret": "A" * 43 + "="},
        )
        assert again.status_code == 409 and again.json()["error"] == "pinRegistered", again.text
    finally:
        client.close()
