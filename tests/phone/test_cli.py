"""`tillit-phone` without a signer: usage errors, prompts, exit codes, and the scripted mode's decisions."""

from __future__ import annotations

import base64
import functools
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from tests.phone.fakes import request
from tillit.phone.activation import ActivationError, Activator
from tillit.phone.cli import main
from tillit.phone.client import PhoneError
from tillit.phone.keystore import Keystore, KeystoreError, OldProfile, WrongPin
from tillit.phone.prompts import Prompter, PromptError, app_pin
from tillit.phone.scripted import Exit, act
from tillit.phone.testkit.commands import free_port, synthetic_number
from tillit.signer.wire import PIN_PATH, AppRequest, AppRequests, parse_personal_number


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TILLIT_HOME", str(tmp_path))
    monkeypatch.delenv("TILLIT_PHONE_PIN", raising=False)
    return tmp_path


def tillit_phone(*args: str, stdin: str = "", **env: str) -> Any:
    return CliRunner().invoke(main, list(args), input=stdin, env=env or None)


def test_approve_and_decline_document_their_exit_codes() -> None:
    for command in ("approve", "decline"):
        result = tillit_phone(command, "--help")
        assert result.exit_code == 0
        for line in ("0  done", "2  usage error", "3  nothing pending", "4  the request expired", "5  this phone"):
            assert line in result.output


def test_activate_refuses_bad_input_before_sending_anything(home: Path) -> None:
    base = ["activate", "--server", "http://127.0.0.1:9", "--method", "sms-email"]
    bad_number = tillit_phone(*base, "--personal-number", "12345678901", stdin="2580\n")
    assert bad_number.exit_code == 2
    assert "check digits" in bad_number.output
    bad_url = tillit_phone(
        "activate", "--server", "127.0.0.1:8700", "--method", "sms-email", "--personal-number", synthetic_number()
    )
    assert bad_url.exit_code == 2 and "http://" in bad_url.output
    short_pin = tillit_phone(*base, "--personal-number", synthetic_number(), stdin="12\n")
    assert short_pin.exit_code == 2 and "at least 4 digits" in short_pin.output
    no_method = tillit_phone("activate", "--server", "http://x", "--personal-number", synthetic_number())
    assert no_method.exit_code == 2
    for wait in ("nan", "inf", "-1", "86400"):  # a newcomer probe's nan returned at once, inf waited forever
        assert tillit_phone("approve", "--wait", wait).exit_code == 2, wait
    assert not (home / "phone" / "default.json").exists() or not Keystore().load("default").activated


def test_approve_needs_an_activated_profile(home: Path) -> None:
    missing = tillit_phone("--profile", "nobody", "approve", TILLIT_PHONE_PIN="2580")
    assert missing.exit_code == 2 and "no phone profile 'nobody'" in missing.output
    Keystore().create("fresh", "2580", "http://127.0.0.1:9")
    fresh = tillit_phone("--profile", "fresh", "decline", TILLIT_PHONE_PIN="2580")
    assert fresh.exit_code == 2 and "not activated" in fresh.output
    bad_name = tillit_phone("--profile", "../x", "status")
    assert bad_name.exit_code == 2


def test_without_the_signer_no_pin_is_right_or_wrong(home: Path) -> None:
    """The signer checks the app PIN (phone/keystore.py): unreachable, it decides nothing (exit 1)."""
    profile, _ = Keystore().create("kari", "2580", f"http://127.0.0.1:{free_port()}")
    profile.device_id = "device"
    Keystore().save(profile)
    for pin in ("1111", "2580"):
        result = tillit_phone("--profile", "kari", "approve", "--pin-stdin", stdin=f"{pin}\n", TILLIT_PHONE_PIN="2580")
        assert result.exit_code == 1 and "cannot reach the signer" in result.output, result.output
        assert "wrong app PIN" not in result.output and pin not in result.output


def test_status_of_a_profile_that_is_not_activated(home: Path) -> None:
    Keystore().create("kari", "2580", "http://127.0.0.1:8700")
    text = tillit_phone("--profile", "kari", "status")
    assert text.exit_code == 0 and "Profile kari: not activated" in text.output
    data = json.loads(tillit_phone("--profile", "kari", "status", "--json").output)
    assert data["exists"] and not data["activated"] and data["server"] == "http://127.0.0.1:8700"


def test_activation_gives_up_when_the_signer_cannot_be_reached(home: Path) -> None:
    port = free_port()  # nothing listens there
    with httpx.Client() as http:
        activator = Activator(
            keystore=Keystore(),
            profile_name="kari",
            server=f"http://127.0.0.1:{port}",
            personal_number=synthetic_number(),
            method="sms-email",
            device_name="phone",
            prompter=Prompter(io.StringIO(""), io.StringIO(), tty=False),
            http=http,
            connect_wait=0.3,
        )
        with pytest.raises(ActivationError, match="cannot reach the signer"):
            activator.run("2580")
    assert not Keystore().load("kari").activated


def test_an_activation_that_fails_leaves_the_profile_as_it_was(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tillit.phone.cli.Activator", functools.partial(Activator, connect_wait=0.2))
    server = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    activate = ["activate", "--server", server, "--method", "sms-email", "--personal-number", synthetic_number()]
    result = tillit_phone("--profile", "n1", *activate, TILLIT_PHONE_PIN="2580")
    assert result.exit_code == 1 and "cannot reach the signer" in result.output
    assert not Keystore().exists("n1")  # no profile that is not activated is left behind
    assert json.loads(tillit_phone("--profile", "n1", "status", "--json").output)["exists"] is False

    profile, _ = Keystore().create("kari", "2580", server)
    profile.device_id = "device"
    Keystore().save(profile)
    before = Keystore().path("kari").read_bytes()
    result = tillit_phone("--profile", "kari", *activate, "--replace", TILLIT_PHONE_PIN="2580")
    assert result.exit_code == 1 and "cannot reach the signer" in result.output
    assert Keystore().path("kari").read_bytes() == before  # the activated profile is kept
    assert sorted(p.name for p in (home / "phone").iterdir()) == ["kari.json"]


# -- prompts and the keystore ---------------------------------------------------------------------


def test_prompts_read_one_line_each_and_never_echo() -> None:
    err = io.StringIO()
    prompter = Prompter(io.StringIO("123456\nFjord-Hest-2024\n"), err, tty=False)
    assert prompter.secret("SMS code") == "123456"
    assert prompter.secret("BankID password") == "Fjord-Hest-2024"
    with pytest.raises(PromptError, match="no answer for 'E-mail code'"):
        prompter.secret("E-mail code")
    assert err.getvalue() == "SMS code: \nBankID password: \nE-mail code: \n"


def test_the_app_pin_comes_from_the_environment_unless_pin_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TILLIT_PHONE_PIN", "2580")
    prompter = Prompter(io.StringIO("1357\n"), io.StringIO(), tty=False)
    assert app_pin(prompter, from_stdin=False) == "2580"
    assert app_pin(prompter, from_stdin=True) == "1357"
    monkeypatch.delenv("TILLIT_PHONE_PIN")
    with pytest.raises(PromptError):
        app_pin(prompter, from_stdin=False)


def test_the_keystore_keeps_unknown_fields_out_and_history_newest_first(tmp_path: Path) -> None:
    keystore = Keystore(tmp_path)
    keystore.create("kari", "2580", "http://x/")
    data = json.loads((tmp_path / "kari.json").read_text())
    (tmp_path / "kari.json").write_text(json.dumps({**data, "fromANewerVersion": 1}))
    assert keystore.load("kari").server == "http://x"
    keystore.remember("kari", {"orderRef": "a"})
    keystore.remember("kari", {"orderRef": "b"})
    assert [h["orderRef"] for h in keystore.load("kari").history] == ["b", "a"]


def test_the_device_key_opens_with_the_pin_and_the_secret_the_signer_keeps(tmp_path: Path) -> None:
    keystore = Keystore(tmp_path)
    profile, key = keystore.create("kari", "2580", "http://x/")
    enrolment = profile.pending_pin
    assert enrolment is not None
    saved = (tmp_path / "kari.json").read_text()
    assert "pending_pin" not in saved and base64.b64encode(enrolment.server_secret).decode() not in saved
    assert base64.b64encode(enrolment.verifier).decode() not in saved
    keystore.update("kari", lambda p: setattr(p, "device_id", "device"))
    asked: list[bytes] = []

    def signer(verifier: bytes) -> bytes:  # what signer/device_pins.py does, without the count
        asked.append(verifier)
        if verifier != enrolment.verifier:
            raise WrongPin(4)
        return enrolment.server_secret

    assert keystore.load("kari").unlock("2580", release=signer).private_numbers() == key.private_numbers()
    with pytest.raises(WrongPin, match="wrong app PIN: 4 attempts left"):
        keystore.load("kari").unlock("0000", release=signer)
    assert asked[0] == enrolment.verifier and asked[1] != enrolment.verifier
    with pytest.raises(KeystoreError, match="damaged"):  # the PIN alone, without the signer's secret
        keystore.load("kari").unlock("2580", release=lambda verifier: bytes(32))


def test_a_profile_from_before_is_refused_with_a_way_forward(tmp_path: Path) -> None:
    keystore = Keystore(tmp_path)
    keystore.create("kari", "2580", "http://x/")
    data = json.loads((tmp_path / "kari.json").read_text())
    data["device_id"], data["unlock_key"] = "device", None
    del data["sealed_key"]["wrap"]
    (tmp_path / "kari.json").write_text(json.dumps(data))
    with pytest.raises(OldProfile, match=r"older version of the app.*activate --replace"):
        keystore.load("kari").unlock("2580", release=lambda verifier: bytes(32))
    # Salts, ciphertext and timestamps are random digits and may hold "2580" by chance; what
    # must never be there is the PIN as a value of its own, or a field that names it.
    stored = json.loads((tmp_path / "kari.json").read_text())
    assert "2580" not in set(_leaves(stored))
    assert not any("pin" in key.lower() for key in _keys(stored))


def _leaves(value: object) -> list[str]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [str(value)]


def _keys(value: object) -> list[str]:
    if isinstance(value, dict):
        return [*value, *(key for item in value.values() for key in _keys(item))]
    if isinstance(value, list):
        return [key for item in value for key in _keys(item)]
    return []


def test_synthetic_numbers_are_valid_and_new() -> None:
    numbers = {synthetic_number() for _ in range(200)}
    assert len(numbers) == 200
    for number in numbers:
        assert parse_personal_number(number, allow_test_numbers=True).value == number


# -- the scripted decision ------------------------------------------------------------------------


class ScriptedClient:
    """A synchronous stand-in for PhoneClient: fixed answers to the long-poll, a fixed answer to decide."""

    def __init__(self, answers: list[AppRequests], decide_error: PhoneError | None = None) -> None:
        self.answers = answers
        self.decide_error = decide_error
        self.decided: list[tuple[str, str]] = []
        self.fingerprints: list[bool] = []
        self.waits: list[float] = []

    def requests(self, wait: float = 0) -> AppRequests:
        self.waits.append(wait)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def decide(self, request: AppRequest, decision: str, biometric: bool = False) -> dict[str, Any]:
        if self.decide_error:
            raise self.decide_error
        self.decided.append((request.order_ref, decision))
        self.fingerprints.append(biometric)
        return {"orderRef": request.order_ref, "decision": decision}


def active(*requests: AppRequest) -> AppRequests:
    return AppRequests(requests=list(requests), device_status="active")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (None, Exit.DONE),
        (PhoneError(410, "expired", "the request has expired"), Exit.EXPIRED),
        (PhoneError(403, "deviceDeactivated", "deactivated"), Exit.DEACTIVATED),
        (PhoneError(409, "alreadyAnswered", "answered"), Exit.ERROR),
    ],
)
def test_the_decision_outcome_maps_to_an_exit_code(error: PhoneError | None, expected: Exit) -> None:
    client = ScriptedClient([active(request())], decide_error=error)
    result = act(client, "approve")  # type: ignore[arg-type]
    assert result.exit == expected
    assert result.as_json()["outcome"] == {0: "done", 1: "error", 4: "expired", 5: "deactivated"}[expected]


def test_a_reference_that_does_not_match_is_waited_for_without_spinning() -> None:
    now = [0.0]
    slept: list[float] = []
    client = ScriptedClient([active(request(reference="BLÅ FJORD"))])

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    result = act(client, "decline", wait=1, reference="grøn  øy", clock=lambda: now[0], sleep=sleep)  # type: ignore[arg-type]
    assert result.exit == Exit.NOTHING_PENDING
    assert client.decided == [] and slept and all(0 < s <= 0.2 for s in slept)
    matched = act(client, "decline", reference="blå fjord")  # type: ignore[arg-type]
    assert matched.exit == Exit.DONE and client.decided == [(request().order_ref, "decline")]


def test_the_scripted_approval_uses_the_fingerprint_only_for_a_login_without_password() -> None:
    for method, decision, on, expected in [
        ("biometric", "approve", True, True),
        ("biometric", "approve", False, False),
        ("biometric", "decline", True, False),
        ("app", "approve", True, False),
    ]:
        client = ScriptedClient([active(request(kind="auth", method=method))])
        result = act(client, decision, biometric=on)  # type: ignore[arg-type]
        assert result.exit == Exit.DONE and client.fingerprints == [expected]
        assert result.as_json()["method"] == method
        assert ("without password" in result.message) == (method == "biometric" and decision == "approve")


def test_biometric_needs_the_app_pin_before_anything_is_sent(home: Path) -> None:
    profile, _ = Keystore().create("kari", "2580", f"http://127.0.0.1:{free_port()}")
    profile.device_id = "device"
    Keystore().save(profile)
    for pin in ("1111", "2580"):  # the signer checks the PIN: away, it opens nothing and sends nothing
        away = tillit_phone("--profile", "kari", "biometric", "on", TILLIT_PHONE_PIN=pin)
        assert away.exit_code == 1 and "cannot reach the signer" in away.output
    assert Keystore().load("kari").biometric is False


def test_a_deactivated_device_is_exit_5_without_a_request() -> None:
    client = ScriptedClient([AppRequests(requests=[], device_status="deactivated")])
    result = act(client, "approve", wait=5)  # type: ignore[arg-type]
    assert result.exit == Exit.DEACTIVATED and result.request is None


def test_the_readme_example_is_the_example_test() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Testers' kit", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    test_file = (Path(__file__).parent / "test_plugin_example.py").read_text()
    assert test_file.split('"""\n', 2)[-1].lstrip("\n") == example


def old_device_activator(home: Path, handler: Any, stdin: str, err: io.StringIO) -> Activator:
    return Activator(
        keystore=Keystore(),
        profile_name="ny",
        server="http://signer.test",
        personal_number=synthetic_number(),
        method="old-device",
        device_name="Ny telefon",
        prompter=Prompter(io.StringIO(stdin), err, tty=False),
        http=httpx.Client(transport=httpx.MockTransport(handler)),
        sleep=lambda seconds: None,
    )


def error(status: int, code: str, reason: str) -> httpx.Response:
    return httpx.Response(status, json={"error": code, "reason": reason})


DONE = {"deviceId": "d1", "customer": {"name": "Kari Nordmann"}, "activatedAt": 1.0}
STARTED = {"activationId": "a1", "method": "old-device", "expiresAt": 2, "reference": "BLÅ FJORD"}


def test_old_device_with_a_signer_that_needs_the_password_on_every_call(home: Path) -> None:
    """Today's signer: the password goes with every poll, so it is asked before the wait."""
    bodies: list[dict[str, Any]] = []
    registered: list[dict[str, Any]] = []

    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path == "/v1/app/activations":
            return httpx.Response(201, json=STARTED)
        if req.url.path == PIN_PATH:  # the app PIN's registration, once activated
            registered.append(json.loads(req.content))
            return httpx.Response(201, json={"deviceId": "d1", "attempts": 5})
        body = json.loads(req.content)
        bodies.append(body)
        if "password" not in body:
            return error(400, "invalidParameters", "password: Field required")
        if len(bodies) < 4:
            return error(409, "notApproved", "waiting for approval on your old phone")
        return httpx.Response(200, json=DONE)

    err = io.StringIO()
    activator = old_device_activator(home, handler, "Fjord-Hest-2024\n", err)
    with activator.http:
        profile = activator.run("2580")
    assert profile.device_id == "d1" and profile.customer_name == "Kari Nordmann"
    assert [sorted(r) for r in registered] == [["pinVerifier", "serverSecret", "unlockKey"]]
    assert "Reference: BLÅ FJORD" in err.getvalue()
    assert [b.get("password") for b in bodies] == [None, "Fjord-Hest-2024", "Fjord-Hest-2024", "Fjord-Hest-2024"]


def test_old_device_with_a_signer_that_waits_without_the_password(home: Path) -> None:
    """The signer change asked for: no password while waiting, 202 once approved, then the password."""
    bodies: list[dict[str, Any]] = []
    registered: list[dict[str, Any]] = []

    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path == "/v1/app/activations":
            return httpx.Response(201, json=STARTED)
        if req.url.path == PIN_PATH:  # the app PIN's registration, once activated
            registered.append(json.loads(req.content))
            return httpx.Response(201, json={"deviceId": "d1", "attempts": 5})
        body = json.loads(req.content)
        bodies.append(body)
        if "password" in body:
            if body["password"] != "Fjord-Hest-2024":
                return error(400, "wrongPassword", "wrong password; 4 attempts left")
            return httpx.Response(200, json=DONE)
        if len(bodies) < 3:
            return error(409, "notApproved", "waiting for approval on your old phone")
        return httpx.Response(202, json={"activationId": "a1", "status": "approved"})

    err = io.StringIO()
    activator = old_device_activator(home, handler, "feil\nFjord-Hest-2024\n", err)
    with activator.http:
        profile = activator.run("2580")
    assert profile.device_id == "d1" and len(registered) == 1
    assert [b.get("password") for b in bodies] == [None, None, None, "feil", "Fjord-Hest-2024"]
    text = err.getvalue()
    assert text.index("Reference: BLÅ FJORD") < text.index("BankID password: ")
    assert "wrong password; 4 attempts left" in text


def test_an_activated_profile_is_not_replaced_by_accident(home: Path) -> None:
    profile, _ = Keystore().create("kari", "2580", "http://127.0.0.1:9")
    profile.device_id = "device"
    Keystore().save(profile)
    result = tillit_phone(
        "--profile", "kari", "activate", "--server", "http://127.0.0.1:9", "--method", "sms-email",
        "--personal-number", synthetic_number(), TILLIT_PHONE_PIN="2580",
    )  # fmt: skip
    assert result.exit_code == 2 and "already activated" in result.output
    assert Keystore().load("kari").device_id == "device"


def test_the_plugin_imports_nothing_of_the_signer_or_the_hsm() -> None:
    import subprocess
    import sys

    code = (
        "import sys, tillit.phone.pytest_plugin; "
        "print(sorted(m for m in sys.modules if m.startswith(('tillit.signer', 'tillit.hsm'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_testers_kit_relying_party_example_is_the_example_test() -> None:
    guide = (Path(__file__).parents[2] / "docs" / "testers-kit.md").read_text()
    section = guide.split("`TillitRelyingParty` (the `tillit_relying_party` fixture)", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    test_file = (Path(__file__).parent / "test_plugin_rp_example.py").read_text()
    assert test_file.split('"""\n', 1)[1].lstrip("\n") == example
