"""The kiosk's small parts: the number check as typed, the catalogs, settings, the client's errors, file names."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tillit.kiosk import numbers
from tillit.kiosk.client import BlockUnavailable, SignerClient, SignerError
from tillit.kiosk.i18n import CATALOGS, EN, LANGUAGES, next_language, translate
from tillit.kiosk.output import file_name, save_signed
from tillit.kiosk.settings import KioskSettings
from tillit.kiosk.widgets.big_text import render_big
from tillit.numbers import InvalidPersonalNumber, parse

DATA = Path(__file__).parents[1] / "data" / "personal-numbers.tsv"
TODAY = date(2026, 11, 24)


def cases() -> list[tuple[str, str, str]]:
    rows = []
    for line in DATA.read_text().splitlines():
        if line.startswith("#") or line.startswith("number\t") or not line.strip():
            continue
        number, kind, expect = line.split("\t")[:3]
        rows.append((number, kind, expect))
    return rows


@pytest.mark.parametrize(("number", "kind", "expect"), cases())
def test_the_shared_cases(number: str, kind: str, expect: str) -> None:
    assert numbers.is_valid(number, allow_test_numbers=True, today=TODAY) == (expect == "valid")
    if kind.startswith("synthetic"):
        verdict = numbers.check(number, allow_test_numbers=False, today=TODAY)
        assert not verdict.complete and verdict.reason == "number.synthetic"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="0123456789", min_size=11, max_size=11), st.booleans())
def test_agrees_with_the_signer(text: str, allow: bool) -> None:
    try:
        parse(text, allow, TODAY)
        expected = True
    except InvalidPersonalNumber:
        expected = False
    assert numbers.is_valid(text, allow, TODAY) == expected


@given(st.text(alphabet="0123456789", min_size=1, max_size=10))
def test_a_valid_start_is_never_refused_early(prefix: str) -> None:
    """While typing, a reason shows only when no ending of the digits so far can be valid."""
    verdict = numbers.check(prefix, allow_test_numbers=True, today=TODAY)
    if verdict.reason is None:
        return
    for number, _, expect in cases():
        if expect == "valid":
            assert not number.startswith(prefix), (prefix, verdict.reason)


def test_reasons_as_typed() -> None:
    assert numbers.check("").reason is None
    assert numbers.check("1389").reason == "number.synthetic"
    assert numbers.check("1389", allow_test_numbers=True).reason is None
    assert numbers.check("3213").reason == "number.bad_date"
    assert numbers.check("3104").reason == "number.bad_date"
    assert numbers.check("290285", today=TODAY).reason == "number.bad_date"  # no 29 February in 1985 or 2085
    assert numbers.check("13897248099", True, TODAY).reason == "number.check_digits"
    assert numbers.check("12a").reason == "number.digits_only"
    assert numbers.check("41818020110", True, TODAY).complete  # D-number


def test_every_key_in_every_language() -> None:
    for language in LANGUAGES:
        assert set(CATALOGS[language]) == set(EN), language
        for key, text in CATALOGS[language].items():
            assert text.strip(), (language, key)
            assert sorted(_fields(text)) == sorted(_fields(EN[key])), (language, key)


def _fields(text: str) -> list[str]:
    import string

    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


def test_every_hint_code_has_words() -> None:
    from typing import get_args

    from tillit.signer.wire import HintCode

    for hint in get_args(HintCode):
        for language in LANGUAGES:
            assert f"hint.{hint}" in CATALOGS[language], (language, hint)


def test_translate_and_cycle() -> None:
    assert translate("nn", "password.wrong", attempts=3) == "Feil passord. Du har 3 forsøk att."
    assert translate("en", "no.such.key") == "no.such.key"
    assert [next_language(x) for x in LANGUAGES] == ["nb", "en", "nn"]


def test_settings_from_toml_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("TILLIT_"):
            monkeypatch.delenv(name)
    token = tmp_path / "kiosk.token"
    token.write_text("tk_secret\n")
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f'signer_url = "http://signer:8700"\ntoken_file = "{token}"\nidle_seconds = 30\nlanguage = "nb"\n'
    )
    monkeypatch.setenv("TILLIT_KIOSK_CONFIG", str(config))
    monkeypatch.setenv("TILLIT_KIOSK_IDLE_SECONDS", "45")
    monkeypatch.setenv("TILLIT_HOME", str(tmp_path / "home"))
    loaded = KioskSettings()
    assert loaded.signer_url == "http://signer:8700"
    assert loaded.idle_seconds == 45  # the environment wins over the file
    assert loaded.language == "nb"
    assert loaded.kiosk_token() == "tk_secret"
    assert loaded.signed_folder() == tmp_path / "home" / "signed"
    assert not loaded.allow_test_numbers
    monkeypatch.setenv("TILLIT_ALLOW_TEST_NUMBERS", "1")
    assert KioskSettings().allow_test_numbers
    assert "tk_secret" not in repr(KioskSettings(token="tk_secret"))  # type: ignore[arg-type]


def client_answering(status: int, body: object) -> SignerClient:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] in ("Bearer tk_test", "Bearer session-token")
        return httpx.Response(status, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"})

    return SignerClient("http://signer.invalid", "tk_test", transport=httpx.MockTransport(handler))


def test_client_errors() -> None:
    with pytest.raises(SignerError) as caught:
        client_answering(400, {"error": "invalidParameters", "reason": "personalNumber: bad"}).auth("1")
    error = caught.value
    assert (error.status, error.code, error.reason) == (400, "invalidParameters", "personalNumber: bad")
    with pytest.raises(SignerError) as caught:
        client_answering(401, {"error": "sessionExpired", "reason": "ended"}).agreements("session-token")
    assert caught.value.session_ended


def test_block_without_the_endpoint_is_not_available() -> None:
    with pytest.raises(BlockUnavailable):
        client_answering(404, {"detail": "Not Found"}).block("13897248098")
    with pytest.raises(SignerError) as caught:  # the endpoint's own 404 is an ordinary error
        client_answering(404, {"error": "notFound", "reason": "no such customer"}).block("13897248098")
    assert not isinstance(caught.value, BlockUnavailable)


def test_unreachable_signer() -> None:
    client = SignerClient("http://127.0.0.1:9", "tk_test", timeout=2)
    with pytest.raises(SignerError) as caught:
        client.collect("x")
    assert caught.value.unreachable


def test_signed_file_names(tmp_path: Path) -> None:
    assert file_name("ref-1", "Lånavtale.pdf", "pades") == "ref-1-L_navtale.pdf"
    assert file_name("ref-1", "../../etc/passwd", "pades") == "ref-1-passwd.pdf"
    assert file_name("ref-1", "prisliste.txt", "cms") == "ref-1-prisliste.txt.p7s"
    saved = save_signed(tmp_path / "out", "ref-1", "avtale.pdf", "pades", b"%PDF-1.7 signed")
    assert saved.path == tmp_path / "out" / "ref-1-avtale.pdf"
    assert saved.path.read_bytes() == b"%PDF-1.7 signed"
    assert not list((tmp_path / "out").glob("*.part"))


def test_big_text_has_every_reference_letter() -> None:
    from tillit.signer.references import ADJECTIVES, NOUNS

    for word in (*ADJECTIVES, *NOUNS):
        rows = render_big(word).splitlines()
        assert len(rows) == 3 and all(rows), word


def test_every_binding_has_an_id_a_description_and_words() -> None:
    """Each key has an id (for keymaps) and a description the footer shows in all three languages."""
    import importlib
    import pkgutil

    from textual.binding import Binding

    from tillit.kiosk import dialogs as kiosk_dialogs
    from tillit.kiosk import screens as kiosk_screens
    from tillit.kiosk.app import KioskApp

    classes: list[type] = [KioskApp]
    for package in (kiosk_screens, kiosk_dialogs):
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            classes += [
                c
                for c in vars(module).values()
                if isinstance(c, type) and c.__module__ == module.__name__ and "BINDINGS" in vars(c)
            ]
    seen = 0
    for cls in classes:
        for binding in vars(cls)["BINDINGS"]:
            assert isinstance(binding, Binding), cls
            assert binding.id and binding.description, (cls, binding)
            if binding.show:
                for language in LANGUAGES:
                    assert f"key.{binding.description}" in CATALOGS[language], (cls, binding.description)
            seen += 1
    assert seen >= 25
