"""The kiosk's words in Norwegian Nynorsk, Bokmål and English, from gettext catalogs: one `.po` file per
language, tillit/kiosk/locale/<language>/LC_MESSAGES/kiosk.po, read at import by `tillit.po_catalogs`.

`translate(language, key, **params)` formats the entry with `str.format`. An entry that varies with a
number (attempts left, seconds, pages) has plural forms and takes the one gettext's ngettext picks for
its one whole-number parameter: `translate("en", "password.wrong", attempts=1)` is the last-attempt
warning. Every key exists in every catalog (a test checks); a key missing in Nynorsk or Bokmål comes
from English, and a key missing everywhere shows as the key itself rather than crashing a kiosk.
"""

from __future__ import annotations

from typing import Any, Literal

from tillit.po_catalogs import Words, load_words

Language = Literal["nn", "nb", "en"]
LANGUAGES: tuple[Language, ...] = ("nn", "nb", "en")
LANGUAGE_NAMES: dict[Language, str] = {"nn": "Nynorsk", "nb": "Bokmål", "en": "English"}

ENGLISH_WORDS = load_words("tillit.kiosk", "kiosk", "en")
WORDS: dict[Language, Words] = {
    "nn": load_words("tillit.kiosk", "kiosk", "nn", fallback=ENGLISH_WORDS),
    "nb": load_words("tillit.kiosk", "kiosk", "nb", fallback=ENGLISH_WORDS),
    "en": ENGLISH_WORDS,
}

CATALOGS: dict[Language, dict[str, str]] = {
    language: {key: "\n".join(forms) for key, forms in words.forms.items()} for language, words in WORDS.items()
}
"""Each language's entries as its `.po` file has them, key -> text (a plural entry: its forms, one a line)."""
EN = CATALOGS["en"]


def translate(language: Language, key: str, /, **params: Any) -> str:
    return WORDS[language].text(key, **params)


def next_language(language: Language) -> Language:
    return LANGUAGES[(LANGUAGES.index(language) + 1) % len(LANGUAGES)]
