"""A relying party's BankID code, unchanged, against Tillit: pybankid 1.5.0 in its own virtualenv.

Run by tests/integration/test_pybankid.py with that virtualenv's Python (this file imports nothing of
Tillit); its standard input is a JSON object: `url` (the RP face's base URL), `cert`, `key`, `ca`
(from `tillit-signer rps add`), `personalNumber` (a customer with an activated phone), `phone`
(the `tillit-phone --profile ...` command line), `env` (its environment) and `password` (the
customer's BankID password, which the phone asks for these orders). The phone is the real
`tillit-phone`. Prints one JSON object: what each step gave.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from bankid import BankIDClient, generate_qr_code_content
from bankid.exceptions import AlreadyInProgressError

AGREEMENT = "# Låneavtale 2024-117\nEg godtek *vilkåra* for lånet.\n* 2 500 000 kr\n* 25 år"


def connect(url: str, cert: str, key: str, ca: str) -> BankIDClient:
    """The setup README.md shows: pybankid's client, pointed at Tillit's URL and trusting its CA."""
    client = BankIDClient(certificates=(cert, key))
    client.ctx.load_verify_locations(cafile=ca)  # the context pybankid's HTTP client verifies with
    # pybankid keeps one URL per endpoint, made from its api_url when the client is made
    for name in ("auth", "sign", "phone/auth", "phone/sign", "collect", "cancel"):
        setattr(client, f"_{name.replace('/', '_')}_endpoint", url + name)
    return client


def phone(config: dict[str, Any], *args: str) -> dict[str, Any]:
    """Run the real `tillit-phone` (the app PIN in its environment, the BankID password on stdin)."""
    done = subprocess.run(
        [*config["phone"], *args],
        input=config["password"] + "\n",
        capture_output=True,
        text=True,
        env=config["env"],
        timeout=120,
    )
    if done.returncode != 0:
        raise SystemExit(f"tillit-phone {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
    return dict(json.loads(done.stdout))


def collect_until_done(client: BankIDClient, order_ref: str, seconds: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        answer = dict(client.collect(order_ref))
        if answer["status"] != "pending" or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def main(config: dict[str, Any]) -> dict[str, Any]:
    client = connect(config["url"], config["cert"], config["key"], config["ca"])
    number, ip = config["personalNumber"], "192.0.2.10"
    results: dict[str, Any] = {}

    # auth with a personal number: the order reaches that customer's phone directly
    started = client.authenticate(end_user_ip=ip, requirement={"personalNumber": number})
    results["authStarted"] = sorted(started)
    results["authPhone"] = phone(config, "approve", "--wait", "15")
    results["auth"] = collect_until_done(client, started["orderRef"])

    # auth without one: the phone scans the animated QR code
    started = client.authenticate(end_user_ip=ip)
    start_t = time.time()
    results["qrContent"] = generate_qr_code_content(started["qrStartToken"], start_t, started["qrStartSecret"])
    results["authQrPhone"] = phone(config, "scan", results["qrContent"])
    results["authQr"] = collect_until_done(client, started["orderRef"])

    # sign formatted text, the QR code scanned
    started = client.sign(end_user_ip=ip, user_visible_data=AGREEMENT, user_visible_data_format="simpleMarkdownV1")
    start_t = time.time()
    content = generate_qr_code_content(started["qrStartToken"], start_t, started["qrStartSecret"])
    results["signPhone"] = phone(config, "scan", content)
    results["sign"] = collect_until_done(client, started["orderRef"])

    # cancel an order the phone has not answered
    started = client.authenticate(end_user_ip=ip, requirement={"personalNumber": number})
    results["cancel"] = client.cancel(started["orderRef"])
    results["cancelled"] = client.collect(started["orderRef"])

    # alreadyInProgress for a second order for the same person (which, as at BankID, ends the first too)
    started = client.authenticate(end_user_ip=ip, requirement={"personalNumber": number})
    try:
        client.authenticate(end_user_ip=ip, requirement={"personalNumber": number})
        results["alreadyInProgress"] = None
    except AlreadyInProgressError as e:
        results["alreadyInProgress"] = {"error": type(e).__name__, "json": e.json, "rfa": e.rfa}
    results["firstOfTwo"] = client.collect(started["orderRef"])
    return results


if __name__ == "__main__":
    print(json.dumps(main(json.load(sys.stdin))))
