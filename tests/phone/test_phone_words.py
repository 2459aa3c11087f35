"""The phone's words live in its catalog (tillit/phone/locale/nn/LC_MESSAGES/phone.po), not in its code:
every key the code names exists, the screens and widgets pass no words of their own to what they show,
and the texts that count (PIN attempts, documents) take gettext's plural form."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tillit.phone.i18n import WORDS, translate
from tillit.phone.widgets.request_panel import UNSAID
from tillit.signer.wire import DEACTIVATION_REASONS

PHONE = Path(__file__).parents[2] / "tillit" / "phone"
SHOWN_BY = {"Label", "Button", "Static", "Input", "Binding", "ErrorDialog", "PinDialog", "drop_current"}
"""Calls whose text arguments the customer reads."""
NOT_WORDS = re.compile(r"BankID|\[/?b\]|[^A-Za-zÆØÅæøå]")
"""What a shown text may hold outside the catalog: the brand, bold markup, punctuation and spacing."""


def phone_modules() -> list[Path]:
    return sorted([*PHONE.glob("screens/*.py"), *PHONE.glob("widgets/*.py"), PHONE / "app.py"])


def literal_text(node: ast.expr) -> str | None:
    """The words written out in a string or f-string argument (None: not a literal)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value for part in node.values if isinstance(part, ast.Constant))
    return None


def called_name(call: ast.Call) -> str:
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")


def test_every_key_the_phone_names_is_in_its_catalog() -> None:
    named: set[str] = set()
    for path in phone_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and called_name(node) == "translate" and node.args:
                key = node.args[0]
                choices = [key.body, key.orelse] if isinstance(key, ast.IfExp) else [key]  # "a" if on else "b"
                named |= {c.value for c in choices if isinstance(c, ast.Constant) and isinstance(c.value, str)}
    # keys made from the signer's values: request kinds, answers and outcomes, biometric on/off
    named |= {f"kind.{kind}" for kind in ("auth", "sign", "activation", "guardian", "reset")}
    named |= {f"history.{decision}" for decision in ("approve", "decline")}
    outcomes = ("expired", "ended", "deactivated", "error", "usage", "passwordLocked")
    named |= {f"history.outcome.{outcome}" for outcome in outcomes}
    named |= {"min_bankid.on", "min_bankid.off"}
    reasons = (*DEACTIVATION_REASONS, UNSAID)  # why a device is deactivated, and what to do
    named |= {f"deactivated.{part}.{reason}" for part in ("why", "next") for reason in reasons}
    assert len(named) > 60
    assert named <= set(WORDS.forms), sorted(named - set(WORDS.forms))
    assert set(WORDS.forms) <= named, f"entries nobody asks for: {sorted(set(WORDS.forms) - named)}"


def test_the_screens_pass_no_words_of_their_own() -> None:
    written_out = []
    for path in phone_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            texts: list[ast.expr] = []
            if isinstance(node, ast.Call) and called_name(node) in SHOWN_BY:
                hidden = any(
                    k.arg == "show" and isinstance(k.value, ast.Constant) and not k.value.value for k in node.keywords
                )
                if called_name(node) == "Binding":
                    texts = [] if hidden else node.args[2:3]
                else:
                    texts = [*node.args, *(k.value for k in node.keywords if k.arg in ("placeholder", "title"))]
            elif isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Attribute) and target.attr == "message" for target in node.targets
            ):
                texts = [node.value]
            for text in texts:
                words = literal_text(text)
                if words is not None and NOT_WORDS.sub("", words):
                    written_out.append(f"{path.relative_to(PHONE)}:{text.lineno}: {words!r}")
    assert not written_out, written_out


def test_texts_that_count_take_the_plural_form() -> None:
    assert translate("pin.attempts_left", attempts=1) == "Siste forsøk før appen blir låst."
    assert translate("pin.attempts_left", attempts=4) == "4 forsøk igjen før appen blir låst."
    assert translate("pin.wrong_attempts_left", attempts=1) == "Feil PIN-kode. Siste forsøk før appen blir låst."
    assert translate("request.documents", names="a.pdf", count=1) == "Dokument: a.pdf"
    assert translate("request.documents", names="a.pdf, b.pdf", count=2) == "Dokument: a.pdf, b.pdf"
    assert translate("password.wrong_attempts_left", attempts=1) == (
        "Feil passord. Siste forsøk før passordet blir sperra."
    )
    assert WORDS.plural_keys == {
        "pin.attempts_left",
        "pin.wrong_attempts_left",
        "password.wrong_attempts_left",
        "request.documents",
    }
