"""The `bulk` worker task: bench-only filler up to N customers, so that the token and the tables are
as large as a real branch's (see benchlib/worker.py)."""

from __future__ import annotations

import secrets
import time
import uuid
from datetime import date
from typing import Any

from pkcs11 import Attribute, KeyType
from pkcs11.util.ec import encode_named_curve_parameters

from benchlib.runner import log
from benchlib.synthetic import PASSWORD, synthetic_numbers
from tillit.hsm.connection import find_token
from tillit.hsm.keypairs import certificate_template, key_templates
from tillit.hsm.module import load_module
from tillit.signer.runtime import open_signer
from tillit.signer.settings import SignerSettings
from tillit.signer.store.records import Customer


def bulk(total: int, seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    with open_signer(SignerSettings()) as signer:
        existing = signer.customers()
        template = next(c for c in existing if c.cert_serial)
        cert_der = signer.hsm.certificate(template.key_label)
        assert cert_der is not None

        password_hash = signer.passwords.hash(PASSWORD)
        session = find_token(load_module(signer.hsm.settings.module_path), signer.hsm.settings).open(rw=True)
        taken = {c.personal_number for c in existing}
        numbers = (n for n in synthetic_numbers(seed) if n not in taken)
        to_add = max(0, total - len(existing))
        batch: list[Customer] = []
        added = 0
        try:
            for i in range(to_add):
                customer_id = str(uuid.uuid4())
                label = f"customer:{customer_id}"
                key_id = secrets.token_bytes(16)
                params = session.create_domain_parameters(
                    KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True
                )
                public_template, private_template = key_templates(label, key_id)
                params.generate_keypair(store=True, public_template=public_template, private_template=private_template)
                session.create_object(certificate_template(label, key_id, cert_der))
                number = next(numbers)
                born = date(1900 + int(number[4:6]), int(number[2:4]) - 80, int(number[0:2]))
                batch.append(
                    Customer(
                        id=customer_id,
                        personal_number=number,
                        name=f"Fyll {i:05d}",
                        mobile="+4791234567",
                        email="fyll@example.no",
                        born=born.isoformat(),
                        password_hash=password_hash,
                        failed_passwords=0,
                        password_locked=0,
                        status="active",
                        key_label=label,
                        cert_serial=None,
                        guardian_id=None,
                        last_method=None,
                        created_at=time.time(),
                    )
                )
                if len(batch) >= 500 or i == to_add - 1:
                    with signer.store.tx() as tx:
                        for row in batch:
                            tx.insert_customer(row)
                    added += len(batch)
                    batch.clear()
                    log(f"filler: {added}/{to_add} customers ({time.perf_counter() - started:.0f} s)", "bench[worker]")
        finally:
            session.close()
        customers = len(signer.customers())
    return {"customers": customers, "added": added, "seconds": round(time.perf_counter() - started, 1)}
