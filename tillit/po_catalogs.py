"""Words from gettext `.po` files shipped inside a package (the kiosk's and the phone's screens).

`load_words(package, domain, language)` reads `<package>/locale/<language>/LC_MESSAGES/<domain>.po`
with Babel and compiles it in memory (`write_mo`) for the standard library's `gettext.GNUTranslations`:
nothing compiled is committed or built, and a `.po` edited by a translator counts at the next start.

Message ids are keys ("block.done"), not source texts: the screens and the signer's codes
("hint.<code>", "error.code.<code>") name them, so rewording one language never touches the others.
`Words.text(key, **params)` formats the entry with `str.format`. A plural entry (msgid_plural, here the
same key) takes the form gettext's `ngettext` picks with the file's Plural-Forms for the one whole
number among the parameters. A key missing in a language comes from the fallback (`fallback=`), and
a key missing everywhere shows as the key itself rather than crashing a screen.
"""

from __future__ import annotations

import gettext
import io
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po


def message_key(message: Message) -> str:
    """The key of an entry: a plural entry's id is (msgid, msgid_plural)."""
    return message.id if isinstance(message.id, str) else message.id[0]


def message_forms(message: Message) -> tuple[str, ...]:
    """An entry's text: one form, or a plural entry's forms in the order of the file's Plural-Forms."""
    return (message.string,) if isinstance(message.string, str) else tuple(message.string or ())


def counted_number(key: str, params: dict[str, Any]) -> int:
    """The whole number a plural entry counts: the one int among its parameters."""
    numbers = [value for value in params.values() if isinstance(value, int) and not isinstance(value, bool)]
    if len(numbers) != 1:
        raise TypeError(f"{key} varies with a number: give it exactly one whole number, got {sorted(params)}")
    return numbers[0]


@dataclass(frozen=True)
class Words:
    """One language's entries, with the forms of each key as the `.po` file has them (`forms`)."""

    translations: gettext.GNUTranslations
    forms: dict[str, tuple[str, ...]]
    plural_keys: frozenset[str]

    def text(self, key: str, /, **params: Any) -> str:
        if key in self.plural_keys:
            text = self.translations.ngettext(key, key, counted_number(key, params))
        else:
            text = self.translations.gettext(key)
        return text.format(**params) if params else text


def read_catalog(package: str, domain: str, language: str) -> Catalog:
    po_file = files(package) / "locale" / language / "LC_MESSAGES" / f"{domain}.po"
    with po_file.open("rb") as po:
        return read_po(po, locale=language, domain=domain)


def load_words(package: str, domain: str, language: str, fallback: Words | None = None) -> Words:
    catalog = read_catalog(package, domain, language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # untranslated (empty) and fuzzy entries are left out: they fall back
    compiled.seek(0)
    translations = gettext.GNUTranslations(compiled)
    entries = [message for message in catalog if message.id]  # the header's id is empty
    forms = {message_key(message): message_forms(message) for message in entries}
    plural_keys = frozenset(message_key(message) for message in entries if message.pluralizable)
    if fallback is not None:
        translations.add_fallback(fallback.translations)
        plural_keys |= fallback.plural_keys
    return Words(translations, forms, plural_keys)
