"""The phone's words in Norwegian Nynorsk, the app's one language, from its gettext catalog
tillit/phone/locale/nn/LC_MESSAGES/phone.po (read at import by `tillit.po_catalogs`).

`translate(key, **params)` formats the entry with `str.format`; an entry that varies with a number (the
PIN attempts left, the documents) takes the plural form for its one whole-number parameter (gettext's
ngettext). A missing key shows as the key itself.
"""

from __future__ import annotations

from typing import Any

from tillit.po_catalogs import Words, load_words

LANGUAGE = "nn"
WORDS: Words = load_words("tillit.phone", "phone", LANGUAGE)


def translate(key: str, /, **params: Any) -> str:
    return WORDS.text(key, **params)
