"""The kiosk's view of the signer's words (`tillit.signer.wire`) against the signer's own lists.

The kiosk and the phone import only `wire`, so it repeats what it needs of the signer's enums as
Literals; these tests keep the copies equal."""

from __future__ import annotations

from typing import get_args

import pytest
from pydantic import ValidationError

from tillit.signer import wire
from tillit.signer.states import HintCode


def test_the_kiosks_hint_codes_are_those_the_signer_sets() -> None:
    # A complete order's collect answer carries no hint (kiosk_orders.collect_response).
    sent = {hint.value for hint in HintCode} - {HintCode.COMPLETE.value}
    assert set(get_args(wire.HintCode)) == sent


def test_clients_read_answers_with_fields_they_do_not_know_and_the_signer_refuses_such_requests() -> None:
    """A newer signer may add a field to an answer: the phone and kiosk of today read past it. A
    request with a field the signer does not know is refused, never half read."""
    answer = wire.AppRequests.model_validate({"requests": [], "deviceStatus": "active", "addedLater": {"x": 1}})
    assert answer.device_status == "active"
    collect = wire.CollectResponse.model_validate(
        {"orderRef": "r", "status": "pending", "hintCode": "outstandingTransaction", "addedLater": 1}
    )
    assert collect.status == "pending"
    answers = {cls for cls in vars(wire).values() if isinstance(cls, type) and issubclass(cls, wire.Answer)}
    assert {wire.AppRequest, wire.AppRequests, wire.CollectResponse, wire.OrderStarted} <= answers
    with pytest.raises(ValidationError):
        wire.AuthRequest.model_validate({"personalNumber": "01815000036", "addedLater": 1})
    assert not issubclass(wire.AppDecision, wire.Answer)
