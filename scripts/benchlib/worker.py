"""Bench tasks that touch a SoftHSM token in-process. Each runs in a process of its own.

SoftHSM reads SOFTHSM2_CONF once per process, so a process can only ever use the token of one
TILLIT_HOME; the orchestrator therefore starts `bench.py --worker TASK JSON` once per task and
home, with TILLIT_HOME set, and reads one JSON object from its standard output.

Tasks:
- `setup`: a fresh home as an administrator makes it (`tillit-hsm init`, `tillit-hsm ca init`,
  `tillit-signer kiosks add`), then customers enrolled through `Signer.enrol` (Argon2id, a key in
  the HSM, a certificate) each with one active device whose private key is handed back.
- `micro`: the ceiling's three pieces of unavoidable work, each alone on one thread; signatures/s
  through `hsm.Hsm` against raw python-pkcs11 on the same key; PAdES of a 20-page PDF through
  the daemon's signing code against pyHanko's own `PKCS11Signer` with the same key.
- `bulk`: bench-only filler up to N customers: key pairs generated in the token with the same
  templates as `Hsm.generate_key` (without its per-key existence search, which is linear in the
  token), a certificate object beside each (a copy of a real customer's certificate under the
  filler's label), and customer rows sharing one precomputed Argon2id hash. No devices, no audit
  entries: the filler only has to make the token and the tables as large as a real branch's.
- `probe`: a fresh process on a large token: what a key search costs there, and (when the HSM
  layer has it) how long loading every key handle once takes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
PASSWORD = "Fjord-Hest-2024"  # noqa: S105 (the synthetic customers' password)


def log(message: str) -> None:
    print(f"bench[worker]: {message}", file=sys.stderr, flush=True)


def synthetic_numbers(seed: int = 0) -> Iterator[str]:
    """Valid synthetic national identity numbers (month + 80) of adults, all different."""
    from tillit.numbers import check_digits

    day_offset = seed % 28
    for year in range(1950, 2000):
        for month in range(1, 13):
            for day in range(1, 29):
                shifted = (day - 1 + day_offset) % 28 + 1
                for individual in range(0, 500):
                    nine = f"{shifted:02d}{month + 80:02d}{year % 100:02d}{individual:03d}"
                    digits = check_digits(nine)
                    if digits is not None:
                        yield nine + digits


def _admin(*argv: str) -> str:
    result = subprocess.run(
        [str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True, env=os.environ.copy(), timeout=300, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return result.stdout


# -- setup --------------------------------------------------------------------------------------


def setup(customers: int, seed: int) -> dict[str, Any]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from tillit.signer.runtime import open_signer
    from tillit.signer.settings import SignerSettings

    _admin("tillit-hsm", "init")
    _admin("tillit-hsm", "ca", "init")
    token = _admin("tillit-signer", "kiosks", "add", "--name", "Bergen sentrum").strip()
    made = []
    numbers = synthetic_numbers(seed)
    with open_signer(SignerSettings()) as signer:
        for i in range(customers):
            number = next(numbers)
            customer = signer.enrol(number, f"Kunde {i:05d}", "+4791234567", "kunde@example.no", PASSWORD)
            key = ec.generate_private_key(ec.SECP256R1())
            public = key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            device = signer.bind_device(customer, public, "bench phone", how="administrator")
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            made.append(
                {
                    "number": number,
                    "password": PASSWORD,
                    "device_id": device.id,
                    "device_key": pem.decode(),
                    "key_label": customer.key_label,
                }
            )
    return {"kiosk_token": token, "customers": made}


# -- micro: the ceiling, the HSM layer, PAdES ------------------------------------------------------


def _per_op(fn: Callable[[], object], batches: int, per_batch: int) -> dict[str, float]:
    """Seconds per call: the median and minimum of `batches` batch means (one warm-up call first)."""
    fn()
    means = []
    for _ in range(batches):
        start = time.perf_counter()
        for _ in range(per_batch):
            fn()
        means.append((time.perf_counter() - start) / per_batch)
    return {"median_s": statistics.median(means), "min_s": min(means), "calls": batches * per_batch}


def _all_cores_at_once(
    fn: Callable[[], object], per_thread: int, clock: Callable[[], float] = time.perf_counter, extra_busy: int = 0
) -> float:
    """Seconds per call of `fn` while every core runs it: one thread per core, `per_thread` calls each
    (after a warm-up call), the median over the threads of their mean, timed by `clock`.
    `extra_busy` more threads burn CPU meanwhile (hashing outside the GIL), so that the cores are
    oversubscribed as in the daemon, where the event loop and the pool run beside both verifies."""
    import threading

    from benchlib.machine import cores

    means: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(cores() + extra_busy)
    done = threading.Event()

    def run() -> None:
        fn()
        start.wait()
        began = clock()
        for _ in range(per_thread):
            fn()
        with lock:
            means.append((clock() - began) / per_thread)

    def burn() -> None:
        block = bytes(65536)
        start.wait()
        while not done.is_set():
            hashlib.sha256(block)

    threads = [threading.Thread(target=run) for _ in range(cores())]
    burners = [threading.Thread(target=burn) for _ in range(extra_busy)]
    for thread in threads + burners:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    for thread in burners:
        thread.join()
    return statistics.median(means)


def _alternating(
    a: Callable[[], object], b: Callable[[], object], seconds: float, slices: int = 6
) -> tuple[float, float]:
    """Calls/s of a and of b, measured in alternating slices so that a change in load hits both."""
    a()
    b()
    totals = {"a": [0, 0.0], "b": [0, 0.0]}
    for i in range(slices):
        order = (("a", a), ("b", b)) if i % 2 == 0 else (("b", b), ("a", a))
        for name, fn in order:
            count = 0
            start = now = time.perf_counter()
            deadline = start + seconds / slices / 2
            while now < deadline:
                fn()
                count += 1
                now = time.perf_counter()
            totals[name][0] += count
            totals[name][1] += now - start
    return totals["a"][0] / totals["a"][1], totals["b"][0] / totals["b"][1]


def micro(
    label: str, number: str, quick: bool, pdf_pages: int, parts: tuple[str, ...] = ("ceiling", "hsm", "pades")
) -> dict[str, Any]:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from pkcs11 import Mechanism, ObjectClass

    from tillit.hsm.connection import find_token
    from tillit.hsm.module import load_module
    from tillit.signer.device_keys import verify_device_signature
    from tillit.signer.runtime import open_signer
    from tillit.signer.sample_documents import agreement_pdf
    from tillit.signer.settings import SignerSettings
    from tillit.signer.wire import approval_message

    settings = SignerSettings()
    result: dict[str, Any] = {}
    with open_signer(settings) as signer:
        hsm = signer.hsm
        raw_session = find_token(load_module(hsm.settings.module_path), hsm.settings).open()
        try:
            raw_key = raw_session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
            digest = hashlib.sha256(b"bench").digest()

            # The ceiling: each piece alone, one thread, production parameters.
            # On the calling thread, the daemon's parameters: the computation without the hop to
            # the daemon's Argon2id pool, which is the daemon's overhead and not part of the ceiling.
            hasher = signer.passwords.hasher
            stored = hasher.hash(PASSWORD)
            argon2 = _per_op(lambda: hasher.verify(stored, PASSWORD), 5 if quick else 8, 4 if quick else 6)
            busy = _all_cores_at_once(lambda: hasher.verify(stored, PASSWORD), 3 if quick else 6)
            crowded = _all_cores_at_once(
                lambda: hasher.verify(stored, PASSWORD), 3 if quick else 6, time.thread_time, extra_busy=1
            )
            device_key = ec.generate_private_key(ec.SECP256R1())
            device_der = device_key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            challenge = {"v": 1, "kind": "auth", "orderRef": str(uuid.uuid4()), "nonce": secrets.token_urlsafe(24)}
            message = approval_message(challenge, "approve")
            signature = device_key.sign(message, ec.ECDSA(hashes.SHA256()))
            device = _per_op(lambda: verify_device_signature(device_der, signature, message), 7, 300)
            hsm_sign = _per_op(lambda: raw_key.sign(digest, mechanism=Mechanism.ECDSA), 7, 300)
            result["ceiling"] = {
                "argon2id_verify_ms": round(argon2["median_s"] * 1000, 3),
                "argon2id_params": {
                    "time_cost": settings.argon2_time_cost,
                    "memory_kib": settings.argon2_memory_kib,
                    "parallelism": 1,
                },
                # Not part of the ceiling: one verify on every core at once, which is how the
                # pipeline runs them (they share the memory bus and the last-level cache).
                "argon2id_verify_ms_all_cores_busy": round(busy * 1000, 3),
                # Nor this: the CPU time of one verify on every core while one thread more wants a
                # core too, so the verifies are preempted. The daemon's own Argon2id CPU per order
                # (pipeline.*.daemon_argon2_cpu_ms_per_order) is measured the same way.
                "argon2id_verify_cpu_ms_cores_oversubscribed": round(crowded * 1000, 3),
                "device_signature_verify_ms": round(device["median_s"] * 1000, 4),
                "hsm_signature_ms": round(hsm_sign["median_s"] * 1000, 4),
            }

            if "hsm" not in parts:
                return result
            # The HSM layer against raw python-pkcs11, same key, same token, one thread.
            seconds = 1.5 if quick else 4.0
            layer_rate, raw_rate = _alternating(
                lambda: hsm.sign_digest(label, digest),
                lambda: raw_key.sign(digest, mechanism=Mechanism.ECDSA),
                seconds,
            )
            result["hsm"] = {
                "algorithm": "EC P-256, CKM_ECDSA over a host SHA-256",
                "daemon_layer_per_s": round(layer_rate, 1),
                "raw_pkcs11_per_s": round(raw_rate, 1),
                "threads": 1,
            }

            if "pades" in parts:
                result["pades"] = _pades(signer, raw_session, label, number, quick, pdf_pages, agreement_pdf)
        finally:
            raw_session.close()
    return result


def _pades(
    signer: Any, raw_session: Any, label: str, number: str, quick: bool, pages: int, make_pdf: Callable[..., bytes]
) -> dict[str, Any]:
    """The daemon's per-document signing at its `pades_level` (B-LTA by default: `DocumentSigner`'s
    certificate from the HSM layer, its revocation data made in-process, the `HsmCmsSigner`,
    `_pades`) against pyHanko's `PKCS11Signer(use_raw_mechanism=True)` made once with the same key,
    certificate and chain, producing the same level: the same field, stamp and metadata, the same
    TSA (in-process, signing in the HSM) and the same in-process OCSP responses and CRLs."""
    from datetime import UTC, datetime

    from asn1crypto import x509
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.sign.fields import SigFieldSpec
    from pyhanko.sign.pkcs11 import PKCS11Signer
    from pyhanko.stamp import TextStampStyle

    customer = signer.customer(number)
    pdf = make_pdf("Avtale om brukskonto", customer.name, pages)
    reference = "BLÅ FJORD"
    documents = signer.documents

    def through_daemon() -> bytes:
        cms_signer = documents._cms_signer(customer.key_label)
        material = documents._validation_material(signer.hsm.certificate(customer.key_label))
        return bytes(documents._pades(cms_signer, pdf, customer.name, reference, material))

    from tillit.signer.longterm import signing_context, validation_material
    from tillit.signer.orders.signing import WHOLE_FILE_TIMESTAMPED
    from tillit.signer.tsa import InProcessTimeStamper

    level = signer.settings.pades_level
    timestamper = InProcessTimeStamper(documents.tsa) if level != "B-B" else None
    der = signer.hsm.certificate(customer.key_label)
    direct_signer = PKCS11Signer(
        raw_session,
        key_label=label,
        signing_cert=x509.Certificate.load(der),
        ca_chain=signer.ca.chain(),
        use_raw_mechanism=True,
        embed_roots=True,
    )

    def direct() -> bytes:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        style = TextStampStyle(stamp_text=f"Signert med Tillit BankID\n{customer.name}\n{when}\nReferanse: {reference}")
        metadata = signers.PdfSignatureMetadata(
            field_name="TillitSignatur",
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            name=customer.name,
            reason="Avtale signert",
        )
        if level in ("B-LT", "B-LTA"):
            ends = [x509.Certificate.load(der), documents.tsa.certificate()]
            material = validation_material(signer.ca, ends, signer.current_crl(), signer.settings.ocsp_cache_seconds)
            metadata = dataclasses.replace(
                metadata,
                embed_validation_info=True,
                use_pades_lta=level == "B-LTA",
                validation_context=signing_context(signer.ca.root_certificate(), material),
                dss_settings=WHOLE_FILE_TIMESTAMPED,
            )
        field = SigFieldSpec(sig_field_name="TillitSignatur", on_page=-1, box=(36, 36, 306, 110))
        pdf_signer = signers.PdfSigner(
            metadata, signer=direct_signer, timestamper=timestamper, stamp_style=style, new_field_spec=field
        )
        out = io.BytesIO()

        async def run() -> None:
            await pdf_signer.async_sign_pdf(writer, output=out)

        asyncio.run(run())
        return out.getvalue()

    rounds = 5 if quick else 12
    daemon_times: list[float] = []
    direct_times: list[float] = []
    sizes = (len(through_daemon()), len(direct()))  # warm-up, both
    for i in range(rounds):
        pair = ((daemon_times, through_daemon), (direct_times, direct))
        for times, fn in pair if i % 2 == 0 else reversed(pair):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    daemon_ms = statistics.median(daemon_times) * 1000
    direct_ms = statistics.median(direct_times) * 1000
    return {
        "level": level,
        "pdf_pages": pages,
        "pdf_bytes": len(pdf),
        "signed_bytes": {"daemon": sizes[0], "pyhanko": sizes[1]},
        "daemon_ms": round(daemon_ms, 2),
        "pyhanko_direct_ms": round(direct_ms, 2),
        "rounds": rounds,
    }


# -- bulk filler ----------------------------------------------------------------------------------


def bulk(total: int, seed: int) -> dict[str, Any]:
    from pkcs11 import Attribute, CertificateType, KeyType, ObjectClass
    from pkcs11.util.ec import encode_named_curve_parameters

    from tillit.hsm.connection import find_token
    from tillit.hsm.keypairs import key_templates
    from tillit.hsm.module import load_module
    from tillit.signer.runtime import open_signer
    from tillit.signer.settings import SignerSettings
    from tillit.signer.store.records import Customer

    started = time.perf_counter()
    with open_signer(SignerSettings()) as signer:
        existing = signer.customers()
        template = next(c for c in existing if c.cert_serial)
        cert_der = signer.hsm.certificate(template.key_label)
        assert cert_der is not None
        from asn1crypto import x509

        cert = x509.Certificate.load(cert_der)
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
                session.create_object(
                    {
                        Attribute.CLASS: ObjectClass.CERTIFICATE,
                        Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                        Attribute.TOKEN: True,
                        Attribute.PRIVATE: False,
                        Attribute.LABEL: label,
                        Attribute.ID: key_id,
                        Attribute.SUBJECT: cert.subject.dump(),
                        Attribute.ISSUER: cert.issuer.dump(),
                        Attribute.SERIAL_NUMBER: cert["tbs_certificate"]["serial_number"].dump(),
                        Attribute.VALUE: cert_der,
                    }
                )
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
                    log(f"filler: {added}/{to_add} customers ({time.perf_counter() - started:.0f} s)")
        finally:
            session.close()
        customers = len(signer.customers())
    return {"customers": customers, "added": added, "seconds": round(time.perf_counter() - started, 1)}


# -- probe: key lookup on a large token -----------------------------------------------------------


def probe(labels: list[str]) -> dict[str, Any]:
    """Key lookups in a fresh process: a search for each of the first labels, then (if the HSM
    layer can) one enumeration of every key, then the first signature with the other labels."""
    from tillit.hsm.client import Hsm
    from tillit.hsm.settings import HsmSettings

    digest = hashlib.sha256(b"probe").digest()
    start = time.perf_counter()
    hsm = Hsm(HsmSettings())
    opened = time.perf_counter() - start
    try:
        half = max(1, len(labels) // 2)
        searched = []
        for label in labels[:half]:
            t = time.perf_counter()
            hsm.sign_digest(label, digest)
            searched.append(time.perf_counter() - t)
        result: dict[str, Any] = {
            "open_s": round(opened, 3),
            "first_signature_by_search_ms": round(statistics.median(searched) * 1000, 2),
            "keys": hsm.status().keys,
        }
        preload = getattr(hsm, "preload", None)
        if preload is not None:
            t = time.perf_counter()
            preload()
            result["preload_s"] = round(time.perf_counter() - t, 3)
            preloaded = []
            for label in labels[half:]:
                t = time.perf_counter()
                hsm.sign_digest(label, digest)
                preloaded.append(time.perf_counter() - t)
            if preloaded:
                result["first_signature_after_preload_ms"] = round(statistics.median(preloaded) * 1000, 3)
        return result
    finally:
        hsm.close()


def main(task: str, arguments: str) -> None:
    args = json.loads(arguments)
    tasks: dict[str, Callable[..., dict[str, Any]]] = {"setup": setup, "micro": micro, "bulk": bulk, "probe": probe}
    result = tasks[task](**args)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
