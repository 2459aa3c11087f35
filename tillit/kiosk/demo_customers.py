"""The demo's fixed data, so guides and tests can rely on it: the customers, their contact details
and control answers, Kari's phone profile, Ola's code device and the sample agreements.

- Kari Nordmann 13897248098, password Fjord-Hest-2024, phone profile `kari` (app PIN 2580), active;
  control answers (forgotten password) Pusen, Strandgata, Ingrid (homes made before them have none);
- Ola Nordmann 02838512340, password Skog-Elg-2024, no app, a code device (file in codedevices/);
- Emma Nordmann, password Lunde-Fjell-2024, 14 or 15 years old: born 15 June fifteen years before this
  year (`minor_number`), so a home made in 2026 has 15861151252 and one made later a number of its
  year, and she is a minor in every new home; no app and no code device; Kari approved her BankID as
  guardian. She shows a minor's BankID and a customer with no way to approve at the kiosk: every
  method is refused, and the kiosk sends her to the branch staff.
"""

from __future__ import annotations

from datetime import date

from tillit.kiosk.state import DemoCustomer
from tillit.numbers import check_digits

PHONE_PROFILE = "kari"
PHONE_PIN = "2580"

# The notes are keys of the kiosk's catalogs (kiosk.po): the welcome screen shows them in the kiosk's language.
KARI = DemoCustomer("Kari Nordmann", "13897248098", "Fjord-Hest-2024", "demo.note.app")
OLA = DemoCustomer("Ola Nordmann", "02838512340", "Skog-Elg-2024", "demo.note.codedevice")


def minor_number(today: date | None = None) -> str:
    """The synthetic number of someone born on 15 June fifteen years before `today`'s year (a minor
    until the June three years after), with the first individual number whose check digits exist.
    Fixed, a minor's number stops being one: 15861151252 would have been 18 in June 2029."""
    year = (today or date.today()).year - 15
    for individual in range(512, 1000):  # 500-999: born in the 2000s
        nine = f"1586{year % 100:02d}{individual:03d}"
        digits = check_digits(nine)
        if digits is not None:
            return nine + digits
    raise AssertionError("every individual number of a day cannot lack check digits")


EMMA = DemoCustomer("Emma Nordmann", minor_number(), "Lunde-Fjell-2024", "demo.note.minor")
CUSTOMERS = (KARI, OLA, EMMA)
MOBILES = {KARI.personal_number: "+4791234567", OLA.personal_number: "+4792345678", EMMA.personal_number: "+4793456789"}
EMAILS = {
    KARI.personal_number: "kari@example.no",
    OLA.personal_number: "ola@example.no",
    EMMA.personal_number: "emma@example.no",
}
CONTROL_ANSWERS = {
    # the signer's CONTROL_QUESTIONS, in order: the first pet, the street as a child, the mother's middle name
    KARI.personal_number: ["Pusen", "Strandgata", "Ingrid"],
}
CODE_DEVICE_SERIAL = "DEMO-OLA-1"
AGREEMENTS = (
    ("Lånavtale for bustadlån", "laanavtale.pdf", 4),
    ("Avtale om brukskonto", "brukskonto.pdf", 3),
    ("Avtale om BankID", "bankid-avtale.pdf", 2),
)
