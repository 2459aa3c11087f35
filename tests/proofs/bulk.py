"""Enrol many customers in one process: `python -m tests.proofs.bulk COUNT PASSWORD` with the
daemon's environment (TILLIT_HOME). One process, one HSM login and one import instead of two
`tillit-signer` runs a customer; prints JSON: [{number, deviceId, key (PEM)}]."""

from __future__ import annotations

import json
import sys

from cryptography.hazmat.primitives import serialization

from tests.factories import customer_with_phone, fresh_adult
from tillit.signer.runtime import open_signer


def main() -> None:
    count, password, start = int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "", int(sys.argv[3])
    password = sys.stdin.readline().rstrip("\n") or password
    made = []
    # fresh_adult() counts from 0 in every process: skip ahead so that numbers never repeat
    for _ in range(start):
        fresh_adult()
    with open_signer() as signer:
        for _ in range(count):
            number, key, device = customer_with_phone(signer, password)
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            made.append({"number": number, "deviceId": device.id, "key": pem.decode()})
    json.dump(made, sys.stdout)


if __name__ == "__main__":
    main()
