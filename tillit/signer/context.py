"""What every part of the signer works with, built in one place (`build_context`) and handed to
each subsystem (orders, customers, devices, branch) instead of the whole `Signer`.

The HSM appears here as a `KeyStore`: the few key operations the signer's rules ask for. The real
`tillit.hsm.client.Hsm` is one; the CA, the timestamp authority, the service key's tokens and the
audit checkpoints are built from it in `build_context`.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from asn1crypto import crl

from tillit.hsm.ca import CertificateAuthority
from tillit.hsm.client import Hsm
from tillit.hsm.keys import Algorithm, KeyInfo
from tillit.numbers import InvalidPersonalNumber, PersonalNumber, parse
from tillit.signer import errors
from tillit.signer.audit.checkpoints import Checkpointer
from tillit.signer.guesses import Guesses, Secret
from tillit.signer.health import Health
from tillit.signer.leases import LeaseKeeper, instance_id
from tillit.signer.messages import MessageSender, load_sender
from tillit.signer.metrics import Metrics
from tillit.signer.passwords import Passwords
from tillit.signer.push import Notifier
from tillit.signer.ratelimit import OrderLimits, windows_for
from tillit.signer.retention import Retention
from tillit.signer.seals import Seals
from tillit.signer.settings import SignerSettings
from tillit.signer.store.base import Store
from tillit.signer.tokens import TokenIssuer
from tillit.signer.tsa import TimestampAuthority

CRL_REFRESH_SECONDS = 3600.0


def now() -> float:
    return time.time()


class KeyStore(Protocol):
    """The HSM as the signer's rules use it: customers' keys, signatures, one-time codes, health."""

    def generate_key(self, label: str, algorithm: Algorithm = ...) -> KeyInfo: ...

    def set_signing_allowed(self, label: str, allowed: bool) -> None: ...

    def certificate(self, label: str) -> bytes | None: ...

    def sign_digest(self, label: str, digest: bytes) -> bytes: ...

    def hmac_sha1(self, label: str, data: bytes) -> bytes: ...

    def ping(self) -> None: ...

    @property
    def index_state(self) -> str: ...

    @property
    def signatures(self) -> int: ...

    def signatures_by_key(self) -> dict[str, int]: ...


class OrderLocks:
    """One lock per order ref (striped over 64): a password check or code check runs once at a time."""

    def __init__(self, stripes: int = 64) -> None:
        self._locks = [threading.Lock() for _ in range(stripes)]

    def __call__(self, ref: str) -> threading.Lock:
        return self._locks[hash(ref) % len(self._locks)]


class CachedCrl:
    """The CA's CRL, kept until a revocation (by any process: the CA ledger says so) or for an hour,
    so that anyone fetching it cannot make the HSM sign, and the CRL number grow, at will. The CRL
    itself is the newest any instance on the ledger made (`CertificateAuthority.shared_crl`), so
    that instances behind one load balancer hand out one CRL."""

    def __init__(self, ca: CertificateAuthority, clock: Callable[[], float]) -> None:
        self._ca = ca
        self._clock = clock
        self._lock = threading.Lock()
        self._crl: tuple[tuple[int, ...], float, bytes] | None = None

    def current(self) -> bytes:
        revoked = tuple(entry.serial for entry in self._ca.ledger.revoked())
        with self._lock:
            at = self._clock()
            if self._crl is not None and self._crl[0] == revoked and at - self._crl[1] < CRL_REFRESH_SECONDS:
                return self._crl[2]
            der = self._ca.shared_crl(CRL_REFRESH_SECONDS)
            # Fresh from when it was made (perhaps by another instance), not from when it came here.
            made = crl.CertificateList.load(der)["tbs_cert_list"]["this_update"].native.timestamp()
            self._crl = (revoked, made, der)
            return der


@dataclass(frozen=True)
class SignerContext:
    """The signer's settings, store, keys and services, shared by every subsystem; thread-safe."""

    settings: SignerSettings
    store: Store
    keys: KeyStore
    ca: CertificateAuthority
    clock: Callable[[], float]
    notifier: Notifier
    passwords: Passwords
    limits: OrderLimits
    guesses: Guesses
    messages: MessageSender
    retention: Retention
    metrics: Metrics
    health: Health
    """The HSM's and the store's checks, bounded in time, for /healthz and /metrics (signer/health.py)."""
    tsa: TimestampAuthority
    crl: CachedCrl
    make_tokens: Callable[[], TokenIssuer]
    instance: str
    """This instance's id in the orders it runs (signer/leases.py)."""
    leases: LeaseKeeper
    """Renews the leases of the orders this instance is running (signer/leases.py)."""
    seals: Seals
    """The HSM's tags on password hashes and device keys (signer/seals.py)."""
    order_lock: OrderLocks = field(default_factory=OrderLocks)

    @functools.cached_property
    def tokens(self) -> TokenIssuer:
        """The service key's tokens, made on first use (it creates the key in the HSM if missing)."""
        return self.make_tokens()

    def parse_number(self, text: str) -> PersonalNumber:
        """A national identity number (test numbers only when the settings allow them)."""
        return parse_personal_number(text, self.settings.allow_test_numbers)


def parse_personal_number(text: str, allow_test_numbers: bool) -> PersonalNumber:
    """A national identity number, test numbers only with `allow_test_numbers`; InvalidInput
    (`invalidPersonalNumber`) saying what is wrong with any other text."""
    try:
        return parse(text, allow_test_numbers, date.today())
    except InvalidPersonalNumber as e:
        raise errors.InvalidInput(str(e), "invalidPersonalNumber") from None


def build_context(
    settings: SignerSettings, store: Store, hsm: Hsm, clock: Callable[[], float] = now
) -> tuple[SignerContext, Checkpointer]:
    """The context over a real HSM, and the audit log's checkpointer, which signs a checkpoint after
    every `audit_checkpoint_every` entries the store writes."""
    ca = CertificateAuthority.for_home(hsm)
    passwords = Passwords(settings.argon2_time_cost, settings.argon2_memory_kib)
    health = Health(store, hsm)
    tsa = TimestampAuthority(
        hsm,
        ca,
        policy=settings.tsa_policy_oid,
        accuracy_seconds=settings.tsa_accuracy_seconds,
        key_label=ca.tsa_label(),  # the newest TSA key (`tillit-hsm ca rekey-tsa`), read once at start
    )

    def certificate_ends() -> dict[str, datetime]:
        """When each certificate the daemon signs under ends, for /metrics."""
        return {
            "root": ca.root_certificate().not_valid_after,
            "issuing": ca.issuing_certificate().not_valid_after,
            "ocsp": ca.ocsp_certificate().not_valid_after,
            "tsa": tsa.certificate().not_valid_after,
        }

    metrics = Metrics(store, hsm, passwords, health, certificate_ends)

    def count_failure(secret: Secret) -> None:
        if secret is Secret.PASSWORD:
            metrics.password_failures.inc()

    attempts = {Secret.PASSWORD: settings.password_attempts, Secret.CONTROL_ANSWERS: settings.control_answer_attempts}
    audit_log = Checkpointer(store, hsm, settings.audit_checkpoint_every, clock)
    instance = instance_id(settings.instance_id, settings.home)
    store.on_audit = audit_log.maybe
    context = SignerContext(
        settings=settings,
        store=store,
        keys=hsm,
        ca=ca,
        clock=clock,
        notifier=Notifier(),
        passwords=passwords,
        limits=OrderLimits(
            windows_for(store, clock),
            settings.rate_orders_per_number,
            settings.rate_orders_per_kiosk,
            settings.rate_window_seconds,
        ),
        guesses=Guesses(attempts, clock, on_failure=count_failure),
        messages=load_sender(settings, store),
        retention=Retention(settings, store, clock),
        metrics=metrics,
        health=health,
        tsa=tsa,
        crl=CachedCrl(ca, clock),
        make_tokens=lambda: TokenIssuer(hsm, settings.base_url, store),
        instance=instance,
        leases=LeaseKeeper(store, clock, instance, settings.lease_seconds),
        seals=Seals(store, hsm, settings.home),
    )
    return context, audit_log
