"""The demo's fixed data, so guides and tests can rely on it: the customers, their contact details
and control answers, Kari's phone profile, Ola's code device and the sample agreements.

- Kari Nordmann 13897248098, password Fjord-Hest-2024, phone profile `kari` (app PIN 2580), active;
  control answers (forgotten password) Pusen, Strandgata, Ingrid (homes made before them have none);
- Ola Nordmann 02838512340, password Skog-Elg-2024, no app, a code device (file in codedevices/);
- Emma Nordmann 15861151252 (15), password Lunde-Fjell-2024, no app and no code device; Kari approved her
  BankID as guardian. She shows a minor's BankID and a customer with no way to approve at the kiosk: every
  method is refused, and the kiosk sends her to the branch staff.
"""

from __future__ import annotations

from tillit.kiosk.state import DemoCustomer

PHONE_PROFILE = "kari"
PHONE_PIN = "2580"

# The notes are keys of the kiosk's catalogs (kiosk.po): the welcome screen shows them in the kiosk's language.
KARI = DemoCustomer("Kari Nordmann", "13897248098", "Fjord-Hest-2024", "demo.note.app")
OLA = DemoCustomer("Ola Nordmann", "02838512340", "Skog-Elg-2024", "demo.note.codedevice")
EMMA = DemoCustomer("Emma Nordmann", "15861151252", "Lunde-Fjell-2024", "demo.note.minor")
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
