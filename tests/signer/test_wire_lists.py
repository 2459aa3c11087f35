"""The kiosk's view of the signer's words (`tillit.signer.wire`) against the signer's own lists.

The kiosk and the phone import only `wire`, so it repeats what it needs of the signer's enums as
Literals; these tests keep the copies equal."""

from __future__ import annotations

from typing import get_args

from tillit.signer import wire
from tillit.signer.states import HintCode


def test_the_kiosks_hint_codes_are_those_the_signer_sets() -> None:
    # A complete order's collect answer carries no hint (kiosk_orders.collect_response).
    sent = {hint.value for hint in HintCode} - {HintCode.COMPLETE.value}
    assert set(get_args(wire.HintCode)) == sent
