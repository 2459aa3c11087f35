"""The words in gettext catalogs (tillit/kiosk/locale, tillit/phone/locale): GNU msgfmt accepts every
`.po` file, texts that count take gettext's plural form, every key the kiosk's code names exists, and
the `.po` files travel with the package (setuptools' own build_py, then the words from the built copy)."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tillit.kiosk.i18n import LANGUAGES, WORDS, translate

ROOT = Path(__file__).parents[2]
PO_FILES = sorted(ROOT.glob("tillit/*/locale/*/LC_MESSAGES/*.po"))
COUNTED = re.compile(r"\{(?:attempts|seconds|pages)\} \w")
"""A number followed by the things it counts ("{attempts} attempts left", "{pages} sider"): the words
vary with the number (but "Page {page} of {pages}" does not)."""


def test_there_is_a_catalog_per_language_and_one_for_the_phone() -> None:
    names = {str(path.relative_to(ROOT / "tillit")) for path in PO_FILES}
    assert names == {
        "kiosk/locale/en/LC_MESSAGES/kiosk.po",
        "kiosk/locale/nb/LC_MESSAGES/kiosk.po",
        "kiosk/locale/nn/LC_MESSAGES/kiosk.po",
        "phone/locale/nn/LC_MESSAGES/phone.po",
    }


@pytest.mark.parametrize("po_file", PO_FILES, ids=[str(p.relative_to(ROOT)) for p in PO_FILES])
def test_msgfmt_accepts_every_catalog(po_file: Path) -> None:
    """GNU gettext's own checks: the header, Plural-Forms, and as many forms in each plural entry."""
    assert shutil.which("msgfmt"), "msgfmt (Debian package gettext, scripts/bootstrap) is needed"
    done = subprocess.run(
        ["msgfmt", "--check", "--statistics", "--output-file=/dev/null", str(po_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "untranslated" not in done.stderr and "fuzzy" not in done.stderr, done.stderr


def test_texts_that_count_take_the_plural_form() -> None:
    assert translate("en", "code.wrong", attempts=1).endswith("(1 attempt left).")
    assert translate("en", "code.wrong", attempts=3).endswith("(3 attempts left).")
    assert translate("en", "reset.wrong_answers", attempts=1) == "The answers did not match. You have 1 attempt left."
    assert translate("en", "agreements.pages", pages=1) == "1 page"
    assert translate("nb", "agreements.pages", pages=1) == "1 side"
    assert translate("nn", "agreements.pages", pages=12) == "12 sider"
    # The last attempt before the password locks is the singular form, in every language.
    last = {language: translate(language, "password.wrong", attempts=1) for language in LANGUAGES}
    assert last == {
        "nn": "Feil passord. Du har 1 forsøk att før passordet vert sperra.",
        "nb": "Feil passord. Du har 1 forsøk igjen før passordet blir sperret.",
        "en": "Wrong password. You have 1 attempt left before the password is locked.",
    }
    assert translate("en", "password.wrong", attempts=0) == "Wrong password. You have 0 attempts left."
    assert translate("nn", "idle.logged_in", seconds=1).startswith("Du vert logga ut om 1 s.")


def test_a_counting_text_is_a_plural_entry_in_every_language() -> None:
    for language in LANGUAGES:
        words = WORDS[language]
        for key, forms in words.forms.items():
            if any(COUNTED.search(form) for form in forms):
                assert key in words.plural_keys and len(forms) == 2, (language, key, forms)


def test_a_plural_entry_needs_its_number() -> None:
    with pytest.raises(TypeError, match=r"code\.wrong varies with a number"):
        translate("en", "code.wrong")


def kiosk_keys_in_code() -> set[str]:
    """Keys written out in the kiosk's code: the first text given to `t(...)` or `translate(language, ...)`."""
    keys: set[str] = set()
    for path in (ROOT / "tillit" / "kiosk").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            position = {"t": 0, "translate": 1}.get(name)
            if position is None or len(node.args) <= position:
                continue
            argument = node.args[position]
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                keys.add(argument.value)
    return keys


def test_every_key_the_kiosk_names_is_in_the_catalogs() -> None:
    keys = kiosk_keys_in_code()
    assert {"password.wrong", "idle.title", "welcome.title"} <= keys
    for language in LANGUAGES:
        assert keys <= set(WORDS[language].forms), (language, sorted(keys - set(WORDS[language].forms)))


def test_the_po_files_ship_with_the_package(tmp_path: Path) -> None:
    """setuptools builds the package as an install would (build_py with the package data), and the
    built copy finds its words."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / "tillit", project / "tillit", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    built = tmp_path / "built"
    subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py", "--build-lib", str(built)],
        cwd=project,
        check=True,
        capture_output=True,
    )
    assert sorted(p.relative_to(built) for p in built.glob("tillit/*/locale/*/LC_MESSAGES/*.po")) == [
        p.relative_to(ROOT) for p in PO_FILES
    ]
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from tillit.kiosk.i18n import translate; from tillit.phone.i18n import translate as phone;"
        "import tillit.kiosk.i18n as module; print(module.__file__);"
        "print(translate('nb', 'code.wrong', attempts=1)); print(phone('pin.attempts_left', attempts=2))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(built)], cwd=tmp_path, check=True, capture_output=True, text=True
    )
    where, kiosk_text, phone_text = done.stdout.splitlines()
    assert where.startswith(str(built))
    assert kiosk_text == "Feil kode. Vent på en ny kode og prøv igjen (1 forsøk igjen)."
    assert phone_text == "2 forsøk igjen før appen blir låst."
