"""The relying party example of docs/testers-kit.md ("TillitRelyingParty"), run as part of the suite, word for word."""

import hashlib
import hmac
import math
import time
from typing import Any

from tillit.phone.pytest_plugin import TillitCustomer, TillitPhone, TillitRelyingParty


def qr_content(order: dict[str, Any], started: float) -> str:
    """What the order's animated QR code shows now (pybankid's generate_qr_code_content)."""
    seconds = str(math.floor(time.time() - started))
    code = hmac.new(order["qrStartSecret"].encode(), seconds.encode(), hashlib.sha256).hexdigest()
    return f"bankid.{order['qrStartToken']}.{seconds}.{code}"


def test_a_login_by_qr_code(
    tillit_relying_party: TillitRelyingParty, tillit_customer: TillitCustomer, tillit_phone: TillitPhone
) -> None:
    with tillit_relying_party.client() as rp:  # its client certificate, the CA trusted, the base URL
        order = rp.post("auth", json={"endUserIp": "192.0.2.10"}).json()
        started = time.time()

        scanned = tillit_phone.scan(qr_content(order, started))  # approves, then types the BankID password
        assert scanned.ok, scanned.stderr
        assert scanned.request is not None
        assert scanned.request["kioskName"] == tillit_relying_party.name  # the requester the phone shows

        result = rp.post("collect", json={"orderRef": order["orderRef"]}).json()
        assert result["status"] == "complete"
        assert result["completionData"]["user"]["personalNumber"] == tillit_customer.personal_number
