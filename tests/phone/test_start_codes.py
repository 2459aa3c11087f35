"""What the phone checks itself before it sends a QR code or an autostart token (the shape only: the
HMAC and the age are the signer's), and how it shows simpleMarkdownV1 text. No signer needed."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from click.testing import CliRunner

from tillit.phone.cli import main
from tillit.phone.keystore import Keystore
from tillit.phone.qr import MalformedStart, parse_autostart_token, parse_qr_content
from tillit.phone.testkit.commands import free_port
from tillit.phone.visible_text import plain_text, render

TOKEN = "67df3917-fa0d-44e5-b327-edcc928297f8"
QR_START_SECRET = "d28db9a7-4cde-429e-a983-359be676944c"


def qr_content(seconds: int) -> str:
    """As pybankid's generate_qr_code_content builds it."""
    code = hmac.new(QR_START_SECRET.encode(), str(seconds).encode(), hashlib.sha256).hexdigest()
    return f"bankid.{TOKEN}.{seconds}.{code}"


def test_a_qr_content_in_bankids_shape_is_read() -> None:
    content = parse_qr_content(f"  {qr_content(7)}\n")
    assert content.start_token == TOKEN and content.seconds == 7 and len(content.auth_code) == 64
    assert content.text == qr_content(7)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "bankid.<qrStartToken>"),
        ("https://example.com/login", "bankid.<qrStartToken>"),
        (qr_content(3).replace("bankid.", "bankld.", 1), "bankid.<qrStartToken>"),
        (qr_content(3) + ".extra", "bankid.<qrStartToken>"),
        (qr_content(3).rsplit(".", 1)[0], "bankid.<qrStartToken>"),
        (f"bankid..3.{'0' * 64}", "qrStartToken"),
        (f"bankid.{TOKEN}.-3.{'0' * 64}", "whole number"),
        (f"bankid.{TOKEN}.three.{'0' * 64}", "whole number"),
        (f"bankid.{TOKEN}.3.{'0' * 63}", "64 hex digits"),
        (f"bankid.{TOKEN}.3.{'g' * 64}", "64 hex digits"),
    ],
)
def test_a_qr_content_in_another_shape_is_refused_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(MalformedStart, match=why.replace(".", r"\.")):
        parse_qr_content(text)


def test_an_autostart_token_is_a_uuid() -> None:
    assert parse_autostart_token(TOKEN.upper()) == TOKEN
    for bad in ("", "not-a-token", TOKEN[:-1]):
        with pytest.raises(MalformedStart, match="UUID"):
            parse_autostart_token(bad)


def test_a_malformed_code_gets_one_line_before_the_pin_or_the_signer(tmp_path: Path) -> None:
    """Exit 2 and one line; no PIN asked (stdin is empty), nothing sent (no signer listens)."""
    profile, _ = Keystore(tmp_path / "phone").create("kari", "2580", f"http://127.0.0.1:{free_port()}")
    profile.device_id = "device"
    Keystore(tmp_path / "phone").save(profile)
    env = {"TILLIT_HOME": str(tmp_path), "TILLIT_PHONE_PIN": ""}
    for command in (["scan", "bankid.nope"], ["scan", qr_content(2) + "0"], ["autostart", "1234"]):
        result = CliRunner().invoke(main, ["--profile", "kari", *command], input="", env=env)
        assert result.exit_code == 2, result.output
        assert result.output.startswith("tillit-phone: not a") and result.output.count("\n") == 1, result.output
        assert "Traceback" not in result.output


MARKDOWN = """# Avtale
Eg godtek *vilkåra* og +angrefristen+, \\*ikkje feit\\*.
## Lånet
| Lån | Rente |
|---|---|
| 2 500 000 kr | 5,1 % |
---
* Første punkt
Pris 3 * 4 er 12"""


def test_simple_markdown_is_rendered_and_plaintext_is_shown_as_written() -> None:
    assert plain_text(MARKDOWN, "simpleMarkdownV1").splitlines() == [
        "Avtale",
        "Eg godtek vilkåra og angrefristen, *ikkje feit*.",
        "Lånet",
        "Lån           Rente",
        "2 500 000 kr  5,1 %",
        "─" * 24,
        "• Første punkt",
        "Pris 3 * 4 er 12",
    ]
    assert plain_text(MARKDOWN) == MARKDOWN == plain_text(MARKDOWN, "plaintext")
    styled = render(MARKDOWN, "simpleMarkdownV1")
    styles = {styled.plain[span.start : span.end]: str(span.style) for span in styled.spans}
    assert styles["Avtale"] == "bold underline" and styles["Lånet"] == "bold"
    assert styles["vilkåra"] == "bold" and styles["angrefristen"] == "italic"
    assert styles["Lån           Rente"] == "bold"  # the table's header row
