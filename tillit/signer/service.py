"""The signer's domain: customers, devices, kiosks and orders, and the rules that bind them.

An order moves pending -> approved (the device approved the challenge) -> verifying (one password
check at a time) -> complete, or for sign orders -> signing -> complete. failed is final; so is
complete. Every transition is one conditional UPDATE (`Tx.transition`), so two requests can never
both move the same order: that is what makes one approval sign once.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tillit.hsm.ca import CertificateAuthority, revocation_reason
from tillit.hsm.client import Hsm
from tillit.hsm.errors import HsmError
from tillit.hsm.keys import Algorithm
from tillit.signer import errors
from tillit.signer.certificate_state import certificate_state, sign_refusal
from tillit.signer.deactivation import deactivated
from tillit.signer.guesses import CODE_FREE_FAILURES, Guesses, Locked, Secret
from tillit.signer.numbers import InvalidPersonalNumber, PersonalNumber, parse
from tillit.signer.passwords import Passwords, check_policy
from tillit.signer.push import Notifier
from tillit.signer.receipts import is_signed
from tillit.signer.references import new_reference
from tillit.signer.retention import Retention
from tillit.signer.settings import SignerSettings
from tillit.signer.signed_requests import read_signed_headers
from tillit.signer.store.base import Store
from tillit.signer.store.records import ALL_KINDS, Customer, Device, Kiosk, Order, StoredDocument
from tillit.signer.store.tx import Tx
from tillit.signer.tokens import TokenIssuer, verify_receipt
from tillit.signer.wire import (
    REQUEST_SKEW_SECONDS,
    AppRequest,
    CollectResponse,
    CompletionData,
    OrderStarted,
    approval_message,
    request_message,
)

CANCELLABLE = ("pending", "approved", "verifying")
ADULT_AGE = 18
MINIMUM_AGE = 13
CRL_REFRESH_SECONDS = 3600.0
MAX_SIGNING_RESUMES = 3
_MOBILE_DIGITS = 8


def now() -> float:
    return time.time()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def validate_mobile(mobile: str) -> str:
    compact = mobile.replace(" ", "")
    if not (compact.startswith("+47") and len(compact) == 3 + _MOBILE_DIGITS and compact[3:].isdigit()):
        raise errors.InvalidInput("a Norwegian mobile number is required: +47 and 8 digits")
    return compact


def validate_email(email: str) -> str:
    local, _, domain = email.partition("@")
    if not local or "." not in domain or len(email) > 254 or " " in email:
        raise errors.InvalidInput("the e-mail address is not valid")
    return email


def load_device_key(pem_or_der: bytes) -> ec.EllipticCurvePublicKey:
    try:
        key = (
            serialization.load_pem_public_key(pem_or_der)
            if pem_or_der.lstrip().startswith(b"-----")
            else serialization.load_der_public_key(pem_or_der)
        )
    except ValueError:
        raise errors.InvalidInput("the device key is not a public key in PEM or DER") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise errors.InvalidInput("a device key must be ECDSA P-256")
    return key


@functools.lru_cache(maxsize=4096)
def _device_public_key(public_key_der: bytes) -> ec.EllipticCurvePublicKey:
    """The parsed key (every phone request is verified with it: parsing costs half a verify)."""
    key = serialization.load_der_public_key(public_key_der)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def verify_device_signature(public_key_der: bytes, signature: bytes, message: bytes) -> bool:
    try:
        _device_public_key(public_key_der).verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class DeviceRequest:
    """A phone's signed request, checked but not yet recorded (`Signer.check_device_request`).

    `refusal` is set when the device is unknown or the signature does not match; the refusal is
    audited, or else the nonce used up, in the transaction that settles the request."""

    device_id: str
    nonce: str
    at: float
    device: Device | None
    refusal: str | None


@dataclass(frozen=True)
class NewDocument:
    name: str
    content_type: str
    content: bytes


class Signer:
    """The daemon's core; thread-safe. HTTP handlers and CLI commands call these methods."""

    def __init__(
        self,
        settings: SignerSettings,
        store: Store,
        hsm: Hsm,
        clock: Callable[[], float] = now,
    ) -> None:
        self.settings = settings
        self.store = store
        self.hsm = hsm
        self.clock = clock
        self.ca = CertificateAuthority.for_home(hsm)
        self.passwords = Passwords(settings.argon2_time_cost, settings.argon2_memory_kib)
        self.notifier = Notifier()
        self._tokens: TokenIssuer | None = None
        self._order_locks = [threading.Lock() for _ in range(64)]
        self._nonces_pruned_at = 0.0
        self._crl: tuple[tuple[int, ...], float, bytes] | None = None
        self._crl_lock = threading.Lock()
        from tillit.signer.activation import Activations
        from tillit.signer.agreements import Agreements
        from tillit.signer.codedevices import CodeDevices
        from tillit.signer.feedback import Feedback
        from tillit.signer.lifecycle import Lifecycle
        from tillit.signer.metrics import Metrics
        from tillit.signer.signing import DocumentSigner

        self.metrics = Metrics(self)
        self.documents = DocumentSigner(self)
        self.code_devices = CodeDevices(self)
        self.activations = Activations(self)
        self.agreements = Agreements(self)
        self.lifecycle = Lifecycle(self)
        self.feedback = Feedback(self)
        from tillit.signer.audit import Checkpointer
        from tillit.signer.ratelimit import OrderLimits

        self.limits = OrderLimits(
            settings.rate_orders_per_number, settings.rate_orders_per_kiosk, settings.rate_window_seconds, clock
        )
        from tillit.signer.messages import load_sender

        self.messages = load_sender(settings, store)
        self.audit_log = Checkpointer(store, hsm, settings.audit_checkpoint_every, clock)
        store.on_audit = self.audit_log.maybe
        self.retention = Retention(settings, store, clock)
        self.guesses = Guesses(
            {Secret.PASSWORD: settings.password_attempts, Secret.CONTROL_ANSWERS: settings.control_answer_attempts},
            clock,
            on_failure=self._count_failure,
        )

    def _count_failure(self, secret: Secret) -> None:
        if secret is Secret.PASSWORD:
            self.metrics.password_failures.inc()

    @property
    def tokens(self) -> TokenIssuer:
        if self._tokens is None:
            self._tokens = TokenIssuer(self.hsm, self.settings.base_url)
        return self._tokens

    def _order_lock(self, ref: str) -> threading.Lock:
        return self._order_locks[hash(ref) % len(self._order_locks)]

    def recover(self) -> None:
        """After a crash: a password check that was running is undone (the kiosk sends the password
        again); a signing that was running is resumed.

        Resuming cannot sign twice: the signatures of an interrupted signing existed only in the dead
        process, because they are stored in the one transaction that completes the order. Signing
        again therefore releases exactly one signature per document. An order whose signing was
        already resumed `MAX_SIGNING_RESUMES` times (the daemon died each time while signing it,
        perhaps because of it) fails instead, so a document that crashes the signer cannot crash it
        at every start; a daemon merely killed twice in a row (as the crash proofs do) still
        completes the order.
        """
        at = self.clock()
        resume: list[str] = []
        with self.store.tx() as tx:
            for order in tx.open_orders():
                if order.status == "verifying":
                    tx.transition(order.ref, ["verifying"], "approved", "userSign")
                    tx.audit("order.recovered", order.ref, at, state="approved")
                elif order.status == "signing" and tx.count_audit("order.resumed", order.ref) >= MAX_SIGNING_RESUMES:
                    tx.transition(order.ref, ["signing"], "failed", "signingFailed", completed_at=at)
                    why = f"interrupted {MAX_SIGNING_RESUMES + 1} times"
                    tx.audit("order.failed", order.ref, at, hint="signingFailed", why=why)
                elif order.status == "signing":
                    tx.audit("order.resumed", order.ref, at)
                    resume.append(order.ref)
        for ref in resume:
            try:
                self.documents.sign_order(ref)
            except HsmError:  # the HSM is away: back to 'approved', the password may come again
                self._release_verifying(ref, "hsm unavailable")

    # -- numbers -------------------------------------------------------------------------------

    def parse_number(self, text: str) -> PersonalNumber:
        try:
            return parse(text, self.settings.allow_test_numbers, date.today())
        except InvalidPersonalNumber as e:
            raise errors.InvalidInput(str(e), "invalidPersonalNumber") from None

    # -- customers -----------------------------------------------------------------------------

    def enrol(
        self,
        personal_number: str,
        name: str,
        mobile: str,
        email: str,
        password: str,
        guardian_number: str | None = None,
        control_answers: list[str] | None = None,
    ) -> Customer:
        number = self.parse_number(personal_number)
        age = number.age(date.today())
        if age > 130:
            raise errors.InvalidInput("the date of birth is not plausible for a living person")
        if age < MINIMUM_AGE:
            raise errors.InvalidInput(f"a BankID needs the customer to be at least {MINIMUM_AGE} years old")
        status = "active"
        guardian: Customer | None = None
        if age < ADULT_AGE:
            if not guardian_number:
                raise errors.InvalidInput(
                    "customers aged 13-17 need a guardian's approval: give --guardian GUARDIAN_NUMBER"
                )
            with self.store.tx() as tx:
                guardian = tx.customer_by_number(self.parse_number(guardian_number).value)
                if guardian is None or guardian.status != "active" or tx.active_device(guardian.id) is None:
                    raise errors.InvalidInput("the guardian must be an enrolled adult with an active app")
            status = "pending_guardian"
        name = name.strip()
        if not name or len(name) > 200:
            raise errors.InvalidInput("a name is 1-200 characters")
        mobile = validate_mobile(mobile)
        email = validate_email(email)
        check_policy(password, number.value)
        hashed_answers = self.lifecycle.hash_answers(control_answers) if control_answers else []
        with self.store.tx() as tx:
            if tx.customer_by_number(number.value) is not None:
                raise errors.Conflict("this customer is already enrolled")
        customer_id = str(uuid.uuid4())
        key_label = f"customer:{customer_id}"
        customer = Customer(
            id=customer_id,
            personal_number=number.value,
            name=name,
            mobile=mobile,
            email=email,
            born=number.born.isoformat(),
            password_hash=self.passwords.hash(password),
            failed_passwords=0,
            password_locked=0,
            status=status,
            key_label=key_label,
            cert_serial=None,
            guardian_id=guardian.id if guardian else None,
            last_method=None,
            created_at=self.clock(),
        )
        self._issue_key(customer)
        with self.store.tx() as tx:
            tx.insert_customer(customer)
            tx.set_control_answers(customer.id, hashed_answers)
            tx.audit("customer.enrolled", customer.id, self.clock(), status=status, certificate=customer.cert_serial)
        if guardian is not None:
            self.lifecycle.request_guardian_approval(customer, guardian)
        return customer

    def _issue_key(self, customer: Customer) -> None:
        """A fresh key pair in the HSM, and a certificate for it when the CA is set up."""
        try:
            self.hsm.generate_key(customer.key_label, Algorithm.EC_P256)
            if self.ca.initialised:
                cert = self.ca.issue(
                    customer.key_label,
                    common_name=customer.name,
                    person_id=f"TILLIT-{customer.id}",  # persistent and random: not the personal number
                    # The URL the CA was made with, which `serve` checks it answers at: an admin
                    # command's own settings may name another port. A CA too old to record it: ours.
                    base_url=self.ca.public_url or self.settings.base_url,
                )
                customer.cert_serial = f"{cert.serial_number:x}"
        except HsmError as e:
            raise errors.Unavailable(f"the HSM could not create the customer's key: {e}") from e

    def customer(self, personal_number: str) -> Customer:
        number = self.parse_number(personal_number)
        with self.store.tx() as tx:
            found = tx.customer_by_number(number.value)
        if found is None:
            raise errors.NotFound("no such customer")
        return found

    def customers(self) -> list[Customer]:
        with self.store.tx() as tx:
            return tx.customers()

    def unlock(self, personal_number: str, by: str = "administrator") -> Customer:
        """Clear the password's and the control answers' failures and locks."""
        customer = self.customer(personal_number)
        with self.store.tx() as tx:
            self.guesses.unlock(tx, customer.id)
            tx.audit("customer.unlocked", customer.id, self.clock(), by=by)
        return self.customer(personal_number)

    def revoke_certificate(self, personal_number: str, reason: str = "unspecified") -> Customer:
        """Revoke the customer's certificate for an RFC 5280 reason (`keyCompromise`; the older
        `key_compromise` spelling too), audited under its RFC name."""
        customer = self.customer(personal_number)
        if customer.cert_serial is None:
            raise errors.Conflict("the customer has no certificate")
        try:
            reason = revocation_reason(reason)
        except HsmError as e:
            raise errors.InvalidInput(str(e)) from e
        try:
            self.ca.revoke(int(customer.cert_serial, 16), reason)
        except HsmError as e:
            raise errors.Conflict(str(e)) from e
        with self.store.tx() as tx:
            tx.audit("certificate.revoked", customer.id, self.clock(), serial=customer.cert_serial, reason=reason)
        return customer

    def current_crl(self) -> bytes:
        """The CRL, kept until a revocation (by any process: the CA ledger says so) or for an hour,
        so that anyone fetching it cannot make the HSM sign, and the CRL number grow, at will."""
        revoked = tuple(entry.serial for entry in self.ca.ledger.revoked())
        with self._crl_lock:
            at = self.clock()
            if self._crl is not None and self._crl[0] == revoked and at - self._crl[1] < CRL_REFRESH_SECONDS:
                return self._crl[2]
            der = self.ca.crl()
            self._crl = (revoked, at, der)
            return der

    def certificate_revoked(self, customer: Customer) -> bool:
        """True when the customer has no certificate or the CA has revoked it."""
        if customer.cert_serial is None:
            return True
        issued = self.ca.status(int(customer.cert_serial, 16))
        return issued is None or issued.revoked_at is not None

    # -- devices -------------------------------------------------------------------------------

    def bind_device(self, customer: Customer, public_key: bytes, name: str, how: str) -> Device:
        """Make this key the customer's one active device; the old one is deactivated at once."""
        with self.store.tx() as tx:
            device, old = self.bind_device_in(tx, customer, public_key, name, how)
        self.notify_rebound(device, old)
        return device

    def notify_rebound(self, device: Device, old: list[str]) -> None:
        """After `bind_device_in` committed: wake the old phones (they are deactivated) and the new one
        (it may have inherited guardian requests)."""
        for device_id in [*old, device.id]:
            self.notifier.notify(device_id)

    def bind_device_in(
        self, tx: Tx, customer: Customer, public_key: bytes, name: str, how: str
    ) -> tuple[Device, list[str]]:
        """`bind_device` inside the caller's transaction; returns the new device and the old ones' ids.
        Orders the old device was asked about end, except guardian approvals still waiting: those
        move to the new device (the guardian is the same person with a new phone)."""
        key = load_device_key(public_key)
        der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        at = self.clock()
        device = Device(
            id=str(uuid.uuid4()),
            customer_id=customer.id,
            public_key=der,
            name=(name.strip() or "phone")[:100],
            status="active",
            activated_at=at,
            deactivated_at=None,
        )
        old = tx.deactivate_devices(customer.id, at)
        tx.insert_device(device)
        # The first login after activation chooses the app explicitly.
        tx.update_customer(customer.id, last_method=None)
        for old_id in old:
            tx.audit("device.deactivated", old_id, at, customer=customer.id, replacedBy=device.id)
        tx.audit("device.activated", device.id, at, customer=customer.id, how=how)
        for order in tx.open_orders_for_customer(customer.id, kinds=ALL_KINDS):
            if order.device_id not in old or order.status not in CANCELLABLE:
                continue
            if order.kind == "guardian" and order.status == "pending":
                # Nothing was approved on the old phone: the same guardian answers on the new one.
                tx.update_order(order.ref, device_id=device.id)
                tx.audit("order.moved", order.ref, at, device=device.id, why="device replaced")
                continue
            # An approval is only as good as the device that gave it: the old device's orders end
            # now, also those it already approved (a password may still be on its way).
            tx.transition(order.ref, [order.status], "failed", "cancelled", completed_at=at)
            tx.audit("order.failed", order.ref, at, hint="cancelled", why="device replaced")
        return device, old

    def add_device(self, personal_number: str, public_key: bytes, name: str = "phone") -> Device:
        return self.bind_device(self.customer(personal_number), public_key, name, how="administrator")

    def authenticate_device(
        self, method: str, path: str, body: bytes, headers: dict[str, str], allow_inactive: bool = False
    ) -> Device:
        """Check a phone request's signature, timestamp and nonce (a nonce is accepted once)."""
        return self.settle_device_request(self.check_device_request(method, path, body, headers), allow_inactive)

    def settle_device_request(self, request: DeviceRequest, allow_inactive: bool = False) -> Device:
        """Record a checked request on its own: the refusal's audit entry, or its nonce used up."""
        with self.store.tx() as tx:
            refusal = self._settle_device_request(tx, request)
        if refusal is not None:
            raise refusal  # after the commit, so the audit log keeps the refused attempt
        return self._requesting_device(request, allow_inactive)

    def check_device_request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> DeviceRequest:
        """The device lookup and the signature check, which need no writer's lock. Malformed or
        stale headers are refused at once; the rest is settled by `_settle_device_request`."""
        at = self.clock()
        signed = read_signed_headers(headers, at, "device key")
        device_id, timestamp, nonce, signature = signed.device_id, signed.timestamp, signed.nonce, signed.signature
        with self.store.read() as tx:
            device = tx.device(device_id)
        refusal: str | None = None
        if device is None:
            refusal = "unknown device"
        elif not verify_device_signature(
            device.public_key, signature, request_message(method, path, body, timestamp, nonce)
        ):
            refusal = "signature"
        return DeviceRequest(device_id, nonce, at, device, refusal)

    def _settle_device_request(self, tx: Tx, request: DeviceRequest) -> errors.SignerError | None:
        """Audit a refused request, or use up its nonce; the error to raise after the commit."""
        if request.refusal is not None:
            tx.audit("device.refused", request.device_id, request.at, why=request.refusal)
            if request.refusal == "unknown device":
                return errors.Unauthorized("unknown device")
            return errors.Unauthorized("the device signature does not match the request")
        expires = request.at + 2 * REQUEST_SKEW_SECONDS
        if not tx.use_device_nonce(request.device_id, request.nonce, expires, request.at, self._prune_due(request.at)):
            tx.audit("device.replay", request.device_id, request.at)
            return errors.Unauthorized("this request was already received (replay)")
        return None

    def _requesting_device(self, request: DeviceRequest, allow_inactive: bool) -> Device:
        device = request.device
        assert device is not None and request.refusal is None
        if device.status != "active" and not allow_inactive:
            with self.store.read() as tx:
                refusal = deactivated(tx, device)
            raise refusal
        return device

    # -- kiosks --------------------------------------------------------------------------------

    def add_kiosk(self, name: str, role: str = "kiosk") -> tuple[Kiosk, str]:
        name = name.strip()
        if not name or len(name) > 100:
            raise errors.InvalidInput("a kiosk name is 1-100 characters")
        token = "tk_" + secrets.token_urlsafe(32)
        kiosk = Kiosk(
            id=str(uuid.uuid4()),
            name=name,
            token_hash=hash_token(token),
            status="active",
            created_at=self.clock(),
            role=role,
        )
        with self.store.tx() as tx:
            tx.insert_kiosk(kiosk)
            tx.audit("kiosk.added", kiosk.id, self.clock(), name=name, role=role)
        return kiosk, token

    def kiosks(self) -> list[Kiosk]:
        with self.store.tx() as tx:
            return tx.kiosks()

    def revoke_kiosk(self, kiosk_ref: str) -> Kiosk:
        with self.store.tx() as tx:
            match = [k for k in tx.kiosks() if k.id == kiosk_ref or k.name == kiosk_ref]
            if len(match) != 1:
                raise errors.NotFound("no single kiosk with that id or name")
            if not tx.revoke_kiosk(match[0].id):
                raise errors.Conflict("the kiosk is already revoked")
            tx.audit("kiosk.revoked", match[0].id, self.clock())
            return match[0]

    def _prune_due(self, at: float) -> bool:
        """Expired device nonces go about once a second (a scan of their table), not on every request."""
        if at - self._nonces_pruned_at < 1.0:
            return False
        self._nonces_pruned_at = at
        return True

    def kiosk_for_token(self, token: str) -> Kiosk:
        with self.store.read() as tx:
            kiosk = tx.kiosk_by_token_hash(hash_token(token))
        if kiosk is None or kiosk.status != "active":
            raise errors.Unauthorized("unknown or revoked kiosk token")
        return kiosk

    # -- orders --------------------------------------------------------------------------------

    def start_order(
        self,
        kiosk: Kiosk,
        kind: str,
        personal_number: str,
        user_visible_data: str | None,
        documents: list[NewDocument] | None = None,
        method: str = "app",
        agreement_id: str | None = None,
    ) -> OrderStarted:
        number = self.parse_number(personal_number)
        documents = documents or []
        for doc in documents:
            if len(doc.content) > self.settings.max_document_bytes:
                raise errors.TooLarge(f"document '{doc.name}' is larger than {self.settings.max_document_bytes} bytes")
        if kind == "sign":
            self.documents.check_inputs(documents)
        self.limits.admit(kiosk.id, number.value)  # 429 before anything is stored or pushed
        if kind == "sign":
            self._refuse_unusable_certificate(number.value)
        at = self.clock()
        ref = str(uuid.uuid4())
        text = user_visible_data or f"Innlogging hos {kiosk.name}"
        order = Order(
            ref=ref,
            kind=kind,
            customer_id=None,
            kiosk_id=kiosk.id,
            reference=new_reference(),
            user_visible_data=text,
            nonce=secrets.token_urlsafe(24),
            method=method,
            created_at=at,
            expires_at=at + self.settings.order_ttl_seconds,
            status="pending",
            hint_code="outstandingTransaction",
            device_id=None,
            level=None,
            approved_at=None,
            completed_at=None,
            completion=None,
            agreement_id=agreement_id,
            signatures=0,
        )
        notify: list[str] = []
        digests = [hashlib.sha256(doc.content).hexdigest() for doc in documents]
        with self.store.tx() as tx:
            customer = tx.customer_by_number(number.value)
            if customer is not None:
                order.customer_id = customer.id
            failure, device = self._start_failure(tx, customer, kind, method)
            if failure is None and customer is not None:
                # An order past its lifetime that nobody collected is expired now, not "in progress".
                others = [self._expire(tx, o) for o in tx.open_orders_for_customer(customer.id)]
                others = [o for o in others if o.open]
                if others:
                    # Two orders at once is what phishing looks like: cancel both (as BankID does).
                    for other in others:
                        tx.transition(other.ref, CANCELLABLE, "failed", "alreadyInProgress", completed_at=at)
                        tx.audit("order.failed", other.ref, at, hint="alreadyInProgress")
                        notify.extend([other.device_id] if other.device_id else [])
                    failure = "alreadyInProgress"
                elif method != "codedevice":
                    assert device is not None
                    order.device_id = device.id
                    notify.append(device.id)
                    if method == "biometric" and not device.biometric:
                        # Not turned on in the app: an ordinary app login, the password after the approval.
                        order.method = "app"
            if failure:
                order.status, order.hint_code, order.completed_at = "failed", failure, at
            elif documents:
                size = sum(len(doc.content) for doc in documents)
                quota = self.settings.kiosk_storage_bytes
                if tx.add_stored_bytes(kiosk.id, size) > quota > 0:
                    raise errors.TooLarge(
                        f"this kiosk's orders already hold the most documents the signer keeps for it ({quota} bytes);"
                        " fetch or finish the signed ones, or try again later",
                        "storageQuota",
                    )
            tx.insert_order(order)
            # An order that fails at once keeps nothing of its documents (their digests are in the audit).
            kept = documents if order.status != "failed" else []
            for index, (doc, digest) in enumerate(zip(kept, digests, strict=False)):
                tx.insert_document(
                    StoredDocument(
                        order_ref=ref,
                        idx=index,
                        name=doc.name,
                        content_type=doc.content_type,
                        content=doc.content,
                        sha256=digest,
                        signed=None,
                    )
                )
            tx.audit(
                "order.started",
                ref,
                at,
                kind=kind,
                kiosk=kiosk.id,
                customer=order.customer_id,
                status=order.status,
                hint=order.hint_code,
                documents=digests,
            )
        for device_id in notify:
            self.notifier.notify(device_id)
        return OrderStarted(order_ref=ref, reference=order.reference, expires_at=int(order.expires_at))

    def _refuse_unusable_certificate(self, personal_number: str) -> None:
        """Refuse (409, nothing stored or pushed) a sign order for an active customer whose
        certificate is revoked, expired or missing: the HSM would refuse it only at the end, after the
        phone's approval and the password. Blocked, unknown and other customers go on to fail as
        before (`blocked`, `noDevice`), so unknown numbers still answer like customers without a phone."""
        with self.store.read() as tx:
            customer = tx.customer_by_number(personal_number)
        if customer is None or customer.status != "active":
            return
        refusal = sign_refusal(certificate_state(self.ca, customer))
        if refusal is not None:
            raise refusal

    def remembered_method(self, kiosk: Kiosk, personal_number: str) -> str | None:
        """The customer's last login method, or None (new, just activated, or unknown: the same answer).

        A remembered method does tell a customer from a stranger, so each lookup counts against the
        same per-number and per-kiosk budgets as an order start (`limits`): enumerating numbers this
        way is no faster than by starting orders."""
        number = self.parse_number(personal_number)
        self.limits.admit(kiosk.id, number.value)
        with self.store.read() as tx:
            customer = tx.customer_by_number(number.value)
        if customer is None or customer.status != "active":
            return None
        return customer.last_method

    def _start_failure(
        self, tx: Tx, customer: Customer | None, kind: str, method: str
    ) -> tuple[str | None, Device | None]:
        """Why a new order fails at once (or None), and the customer's active app (when looked up).
        Unknown numbers answer like customers without the chosen method, so the answer does not
        reveal who is a customer."""
        missing = "noCodeDevice" if method == "codedevice" else "noDevice"
        if customer is None:
            return missing, None
        if customer.status == "blocked":
            return "blocked", None
        if customer.status != "active":
            return "noDevice", None
        if customer.password_locked and kind != "reset":
            return "passwordLocked", None
        if method == "codedevice":
            code_device = tx.code_device_of(customer.id)
            if code_device is None:
                return "noCodeDevice", None
            return (None if code_device.status == "active" else "codeDeviceSuspended"), None
        device = tx.active_device(customer.id)
        return (None if device is not None else "noDevice"), device

    def _past_lifetime(self, order: Order) -> bool:
        return order.open and order.status != "signing" and self.clock() >= order.expires_at

    def _expire(self, tx: Tx, order: Order) -> Order:
        """An open order past its lifetime becomes expired (final) when next looked at."""
        if self._past_lifetime(order):
            at = self.clock()
            if tx.transition(order.ref, [order.status], "failed", "expiredTransaction", completed_at=at):
                tx.audit("order.failed", order.ref, at, hint="expiredTransaction")
            refreshed = tx.order(order.ref)
            assert refreshed is not None
            return refreshed
        return order

    def _kiosk_order_read(self, tx: Tx, kiosk: Kiosk, ref: str) -> Order | None:
        """`_kiosk_order` in a read-only transaction; None when the order must be expired first."""
        order = tx.order(ref)
        if order is None or order.kiosk_id != kiosk.id:
            raise errors.NotFound("no such order for this kiosk")
        return None if self._past_lifetime(order) else order

    def _kiosk_order(self, tx: Tx, kiosk: Kiosk, ref: str) -> Order:
        order = tx.order(ref)
        if order is None or order.kiosk_id != kiosk.id:
            raise errors.NotFound("no such order for this kiosk")
        return self._expire(tx, order)

    def collect(self, kiosk: Kiosk, ref: str) -> CollectResponse:
        answer = self.collect_read(kiosk, ref)  # the common case changes nothing: no writer's lock
        if answer is not None:
            return answer
        with self.store.tx() as tx:  # the order has just expired: record that
            order = self._kiosk_order(tx, kiosk, ref)
            customer = tx.customer(order.customer_id) if order.customer_id else None
        return self._collect_response(order, customer)

    def collect_read(self, kiosk: Kiosk, ref: str) -> CollectResponse | None:
        """`collect` when answering changes nothing; None when the order has just expired (and
        `collect` must record that)."""
        with self.store.read() as tx:
            order = self._kiosk_order_read(tx, kiosk, ref)
            if order is None:
                return None
            customer = tx.customer(order.customer_id) if order.customer_id else None
        return self._collect_response(order, customer)

    def _collect_response(self, order: Order, customer: Customer | None) -> CollectResponse:
        status = {"complete": "complete", "failed": "failed"}.get(order.status, "pending")
        attempts_left = None
        if customer is not None and order.status in ("approved", "verifying"):
            attempts_left = max(0, self.settings.password_attempts - customer.failed_passwords)
        hint = None if status == "complete" else order.hint_code
        completion = CompletionData.model_validate_json(order.completion) if order.completion else None
        return CollectResponse(
            order_ref=order.ref,
            status=status,
            hint_code=hint,
            attempts_left=attempts_left,
            completion_data=completion,
        )

    def submit_code(self, kiosk: Kiosk, ref: str, code: str) -> CollectResponse:
        """A code-device login: the one-time code stands where the phone's approval would."""
        with self._order_lock(ref), self.store.tx() as tx:
            order = self._kiosk_order(tx, kiosk, ref)
            if order.method != "codedevice":
                raise errors.Conflict("this order is approved on the phone, not with a code device")
            if order.status != "pending":
                return self._collect_response(order, None)
            assert order.customer_id is not None
            customer = tx.customer(order.customer_id)
            assert customer is not None
            at = self.clock()
            if not self.code_devices.check(tx, customer.personal_number, customer.id, code):
                failures, _ = tx.code_throttle(customer.personal_number)
                response = self._collect_response(order, None)
                response.hint_code = "wrongCode"
                response.attempts_left = max(0, CODE_FREE_FAILURES - failures)
                return response
            tx.transition(ref, ["pending"], "approved", "userSign", approved_at=at)
            tx.audit("order.approved", ref, at, codeDevice=True)
            return self._collect_response(tx.order(ref) or order, None)

    def cancel(self, kiosk: Kiosk, ref: str) -> CollectResponse:
        with self.store.tx() as tx:
            order = self._kiosk_order(tx, kiosk, ref)
            at = self.clock()
            if order.status in ("pending", "approved"):
                tx.transition(order.ref, [order.status], "failed", "cancelled", completed_at=at)
                tx.audit("order.failed", order.ref, at, hint="cancelled", by="kiosk")
            elif order.open:
                raise errors.Conflict("the order is being completed and can no longer be cancelled")
            order = tx.order(ref) or order
        if order.device_id:
            self.notifier.notify(order.device_id)
        return self._collect_response(order, None)

    def submit_password(self, kiosk: Kiosk, ref: str, password: str) -> CollectResponse:
        """Check the password of an approved order. One check per order runs at a time."""
        with self._order_lock(ref):
            try:
                return self._submit_password(kiosk, ref, password)
            except HsmError:
                # The HSM went away while completing (JWT or signatures): nothing was completed or
                # released. Hand the order back to 'approved' so the password can be sent again
                # once the HSM answers; the caller gets 503.
                self._release_verifying(ref, "hsm unavailable")
                raise

    def _release_verifying(self, ref: str, why: str) -> None:
        at = self.clock()
        with self.store.tx() as tx:
            if tx.transition(ref, ["verifying", "signing"], "approved", "userSign"):
                tx.audit("order.recovered", ref, at, state="approved", why=why)

    def _submit_password(self, kiosk: Kiosk, ref: str, password: str) -> CollectResponse:
        # Looked up without the writer's lock; the order's move to 'verifying' and the guess's
        # admission (`Guesses.admit`, under the customer's row lock) are what decide whether this
        # check may run.
        with self.store.read() as rtx:
            found = self._kiosk_order_read(rtx, kiosk, ref)
            customer = rtx.customer(found.customer_id) if found is not None and found.customer_id else None
        if found is None:  # past its lifetime: record the expiry
            with self.store.tx() as tx:
                found = self._kiosk_order(tx, kiosk, ref)
        order = found
        if order.kind not in ("auth", "sign"):
            raise errors.Conflict("a password completes only a login or a signing order", "wrongOrderKind")
        if order.status == "pending":
            raise errors.Conflict("the customer has not approved the request on the phone yet", "notApproved")
        if order.status != "approved":
            return self._collect_response(order, customer)
        assert customer is not None
        at = self.clock()
        with self.store.tx() as tx:
            if not tx.transition(ref, ["approved"], "verifying", "userSign"):
                order = tx.order(ref) or order
                if order.status in ("verifying", "signing"):
                    raise errors.Conflict("a password check for this order is already running")
                return self._collect_response(order, customer)
            try:
                admission = self.guesses.admit(tx, customer.id, Secret.PASSWORD, f"order:{ref}")
            except Locked:
                tx.transition(ref, ["verifying"], "failed", "passwordLocked", completed_at=at)
                tx.audit("order.failed", ref, at, hint="passwordLocked")
                locked = self._collect_response(tx.order(ref) or order, tx.customer(customer.id))
                locked.attempts_left = 0
                return locked
            # Busy raises out of this transaction: rolled back, the order is 'approved' again.
        correct = self.passwords.verify(customer.password_hash, password)
        completion: str | None = None
        if correct and order.kind != "sign":
            # The token (an HSM signature) is made before the writer's lock is taken; it is released
            # only if the transaction below completes the order.
            try:
                with self.store.read() as rtx:
                    completion = self._completion(rtx, order, customer, level="high")
            except HsmError:
                with self.store.tx() as tx:  # the guess was computed: decide it before giving up
                    self.guesses.decide(tx, admission, correct)
                raise
        at = self.clock()
        with self.store.tx() as tx:
            # Counted first, whatever became of the order meanwhile: a guess is a guess.
            verdict = self.guesses.decide(tx, admission, correct, last_method=order.method)
            order = tx.order(ref) or order
            if order.status != "verifying":  # blocked or cancelled meanwhile
                return self._collect_response(order, customer)
            if at >= order.expires_at:
                tx.transition(ref, ["verifying"], "failed", "expiredTransaction", completed_at=at)
                tx.audit("order.failed", ref, at, hint="expiredTransaction")
                return self._collect_response(tx.order(ref) or order, customer)
            if not verdict.succeeded:
                if verdict.locked:
                    tx.transition(ref, ["verifying"], "failed", "passwordLocked", completed_at=at)
                    tx.audit("order.failed", ref, at, hint="passwordLocked")
                else:
                    tx.transition(ref, ["verifying"], "approved", "wrongPassword")
                response = self._collect_response(tx.order(ref) or order, customer)
                response.attempts_left = verdict.attempts_left
                return response
            if order.kind == "sign":
                tx.transition(ref, ["verifying"], "signing", "userSign")
            else:
                assert completion is not None
                tx.transition(
                    ref, ["verifying"], "complete", "complete", completed_at=at, completion=completion, level="high"
                )
                tx.insert_session(ref, customer.id, order.kiosk_id, at, at + self.settings.token_lifetime_seconds)
                tx.audit("order.completed", ref, at, level="high")
        if order.kind == "sign":
            self.documents.sign_order(ref)
        with self.store.read() as rtx:
            return self._collect_response(rtx.order(ref) or order, customer)

    def _decision_rejection(
        self, tx: Tx, order: Order, device: Device, signed: bool, at: float
    ) -> errors.SignerError | None:
        order = self._expire(tx, order)
        if order.status == "failed" and order.hint_code == "expiredTransaction":
            return errors.Gone("the request has expired")
        if order.status != "pending":
            tx.audit("approval.rejected", order.ref, at, device=device.id, why="not pending")
            return errors.Conflict("the request has already been answered or has ended", "alreadyAnswered")
        if not signed:
            tx.audit("approval.rejected", order.ref, at, device=device.id, why="signature")
            return errors.InvalidInput("the signature does not match this request", "badSignature")
        return None

    def _apply_decision(
        self, tx: Tx, order: Order, device: Device, decision: str, signature: bytes, biometric: bool, at: float
    ) -> None:
        ref = order.ref
        if decision == "approve":
            approval = base64.b64encode(signature).decode()
            if not tx.transition(ref, ["pending"], "approved", "userSign", approved_at=at, approval=approval):
                raise errors.Conflict("the request has already been answered or has ended", "alreadyAnswered")
            tx.audit("order.approved", ref, at, device=device.id, biometric=biometric)
            order = tx.order(ref) or order
            if order.kind == "guardian":
                self.lifecycle.guardian_decided(tx, order, approved=True)
            elif order.kind == "auth" and order.method == "biometric":
                self._complete_without_password(tx, order, biometric)
        else:
            if not tx.transition(ref, ["pending"], "failed", "userCancel", completed_at=at):
                raise errors.Conflict("the request has already been answered or has ended", "alreadyAnswered")
            tx.audit("order.failed", ref, at, hint="userCancel", device=device.id)
            if order.kind == "guardian":
                self.lifecycle.guardian_decided(tx, order, approved=False)

    def _complete_without_password(self, tx: Tx, order: Order, biometric: bool) -> None:
        """A biometric/app-PIN login: complete at the lower level (`substantial`); never for signing."""
        assert order.kind == "auth" and order.customer_id is not None
        customer = tx.customer(order.customer_id)
        assert customer is not None
        at = self.clock()
        completion = self._completion(
            tx, order, customer, level="substantial", amr=["app", "bio" if biometric else "pin"]
        )
        tx.transition(
            order.ref, ["approved"], "complete", "complete", completed_at=at, completion=completion, level="substantial"
        )
        tx.insert_session(order.ref, customer.id, order.kiosk_id, at, at + self.settings.token_lifetime_seconds)
        tx.update_customer(customer.id, last_method="biometric")
        tx.audit("order.completed", order.ref, at, level="substantial")

    def _completion(
        self,
        tx: Tx,
        order: Order,
        customer: Customer,
        level: str,
        signatures: list[dict[str, Any]] | None = None,
        amr: list[str] | None = None,
    ) -> str:
        device = tx.device(order.device_id) if order.device_id else None
        token = self.tokens.issue(
            subject=customer.id,
            audience=order.kiosk_id,
            lifetime=self.settings.token_lifetime_seconds,
            jti=order.ref,
            acr=level,
            amr=amr or ["app", "pwd"],
            name=customer.name,
            kind=order.kind,
        )
        data = CompletionData(
            customer={
                "id": customer.id,
                "personalNumber": customer.personal_number,
                "name": customer.name,
                "born": customer.born,
                "certificateSerial": customer.cert_serial,
            },
            device=device.public() if device else None,
            token=token,
            level=level,
            signatures=signatures,
        )
        return data.model_dump_json(by_alias=True)

    # -- the phone's side ----------------------------------------------------------------------

    def challenge(self, tx: Tx, order: Order, digests: list[tuple[str, str]] | None = None) -> dict[str, Any]:
        """What the phone signs (canonical encoding: signer/wire.py). `digests`, (name, SHA-256 hex) per
        document, replaces the digests stored at order start, to check an approval against the
        documents' bytes as they are now."""
        kiosk = tx.kiosk(order.kiosk_id)
        if digests is None:
            digests = tx.document_digests(order.ref)
        return {
            "v": 1,
            "kind": order.kind,
            "method": order.method,
            "orderRef": order.ref,
            "kiosk": {"id": order.kiosk_id, "name": kiosk.name if kiosk else "Tillit BankID"},
            "userVisibleData": order.user_visible_data,
            "documents": [{"name": name, "sha256": sha256} for name, sha256 in digests],
            "nonce": order.nonce,
            "expiresAt": int(order.expires_at),
        }

    def pending_requests(self, device: Device) -> list[AppRequest]:
        with self.store.read() as tx:
            return self._pending_requests(tx, device)

    def poll(self, device: Device) -> tuple[list[AppRequest], bool]:
        """The device's pending requests and whether it is still active, in one read."""
        with self.store.read() as tx:
            current = tx.device(device.id)
            return self._pending_requests(tx, device), current is not None and current.status == "active"

    def _pending_requests(self, tx: Tx, device: Device) -> list[AppRequest]:
        result = []
        for order in tx.pending_orders_for_device(device.id, self.clock()):
            challenge = self.challenge(tx, order)
            result.append(
                AppRequest(
                    order_ref=order.ref,
                    reference=order.reference,
                    kind=order.kind,
                    method=order.method,
                    kiosk_name=challenge["kiosk"]["name"],
                    user_visible_data=order.user_visible_data,
                    documents=[{"name": d["name"], "sha256": d["sha256"]} for d in challenge["documents"]],
                    expires_at=int(order.expires_at),
                    challenge=challenge,
                )
            )
        return result

    def decide(self, device: Device, ref: str, decision: str, signature: bytes, biometric: bool = False) -> str:
        """Apply a device's approve/decline. The signature must cover this order's exact challenge."""
        return self._decide(device, None, ref, decision, signature, biometric)

    def decide_request(
        self, request: DeviceRequest, ref: str, decision: str, signature: bytes, biometric: bool = False
    ) -> str:
        """`decide` for a signed phone request (`check_device_request`): its nonce is used up in the
        transaction that applies the decision, so an approval takes one write, not two."""
        if request.refusal is not None:
            self.settle_device_request(request)  # raises: unknown device or a signature that does not match
        assert request.device is not None
        return self._decide(request.device, request, ref, decision, signature, biometric)

    def _decide(
        self, device: Device, request: DeviceRequest | None, ref: str, decision: str, signature: bytes, biometric: bool
    ) -> str:
        at = self.clock()
        message = b""
        # A challenge never changes once the order exists: check the signature over it before taking
        # the writer's lock; the decision itself is then one conditional transition.
        with self.store.read() as tx:
            order = tx.order(ref)
            if order is None or order.device_id != device.id or order.customer_id != device.customer_id:
                order = None
            else:
                message = approval_message(self.challenge(tx, order), decision)
        signed = order is not None and verify_device_signature(device.public_key, signature, message)
        refusal: errors.SignerError | None = None
        with self.store.tx() as tx:
            if request is not None:
                refusal = self._settle_device_request(tx, request)
                if refusal is None and device.status != "active":
                    refusal = deactivated(tx, device)
            if refusal is None and order is None:
                refusal = errors.NotFound("no such request for this device")
            if refusal is None:
                assert order is not None
                order = tx.order(ref) or order
                current = tx.device(device.id)
                if current is None or current.status != "active":
                    refusal = deactivated(tx, current or device)
                else:
                    refusal = self._decision_rejection(tx, order, device, signed, at)
                if refusal is None:
                    self._apply_decision(tx, order, device, decision, signature, biometric, at)
        if refusal is not None:
            raise refusal  # after the commit, so the audit keeps the rejected attempt
        return decision

    # -- outputs, health and metrics -----------------------------------------------------------

    def active_device_info(self, customer_id: str) -> dict[str, Any] | None:
        with self.store.tx() as tx:
            device = tx.active_device(customer_id)
        return device.public() if device else None

    def set_biometric(self, device: Device, on: bool) -> bool:
        """The customer turned login without password (biometric or app PIN) on or off in the app."""
        at = self.clock()
        with self.store.tx() as tx:
            tx.set_device_biometric(device.id, on)
            tx.audit("device.biometric", device.id, at, on=on)
        return on

    def device_active(self, device_id: str) -> bool:
        with self.store.read() as tx:
            device = tx.device(device_id)
        return device is not None and device.status == "active"

    def signed_document(self, kiosk: Kiosk, ref: str, index: int) -> tuple[bytes, str, str]:
        """The signed output of one document of a completed sign order: (bytes, media type, filename)."""
        found = self.signed_document_read(kiosk, ref, index)
        if found is not None:
            return found
        with self.store.tx() as tx:  # the order has just expired: record that
            self._kiosk_order(tx, kiosk, ref)
        raise errors.Conflict("the order has no signed documents (not a completed sign order)")

    def signed_document_read(self, kiosk: Kiosk, ref: str, index: int) -> tuple[bytes, str, str] | None:
        """`signed_document` when answering changes nothing; None when the order has just expired."""
        in_range = 0 <= index < self.settings.max_documents  # and within the store's integers
        with self.store.read() as tx:
            order = self._kiosk_order_read(tx, kiosk, ref)
            doc = tx.document(ref, index) if order is not None and in_range else None
        if order is None:
            return None
        if order.status != "complete" or order.kind != "sign":
            raise errors.Conflict("the order has no signed documents (not a completed sign order)")
        if doc is None and in_range and index < order.signatures:
            raise errors.Gone("the signed document was deleted after the retention period", "documentDeleted")
        if doc is None or doc.signed is None:
            raise errors.NotFound("no such document in this order")
        if doc.fetched_at is None:
            self.retention.note_fetched(ref, index)
        from tillit.signer.signing import is_pdf

        if is_pdf(doc.content_type, doc.content):
            return doc.signed, "application/pdf", doc.name
        return doc.signed, "application/pkcs7-signature", doc.name + ".p7s"

    def receipt(self, ref: str) -> dict[str, Any]:
        """The order's receipt, decoded (operators' CLI): the claims of the signed receipt once its
        signature verifies with this service's key, or a receipt from before receipts were signed
        as stored, marked `"signed": false`."""
        stored = self._stored_receipt(ref)
        if not is_signed(stored):
            return {**json.loads(stored), "signed": False}
        claims = verify_receipt(stored, self.tokens.jwks())
        if claims is None:
            raise errors.Conflict("the stored receipt's signature does not verify", "receiptInvalid")
        return claims

    def receipt_jws(self, ref: str) -> str:
        """The order's signed receipt as issued (compact JWS), for the operators' CLI."""
        stored = self._stored_receipt(ref)
        if not is_signed(stored):
            raise errors.Conflict("this receipt was made before receipts were signed", "receiptUnsigned")
        return stored

    def kiosk_receipt(self, kiosk: Kiosk, ref: str) -> str:
        """The signed receipt (compact JWS) of a completed sign order, for the kiosk that ran it;
        another kiosk's order is not found (404), as for every order lookup."""
        with self.store.read() as tx:
            order = tx.order(ref)
            if order is None or order.kiosk_id != kiosk.id:
                raise errors.NotFound("no such order for this kiosk")
            stored = tx.receipt(ref)
        if stored is None:
            raise errors.Conflict("the order has no receipt (not a completed sign order)")
        if not is_signed(stored):
            raise errors.Conflict("this receipt was made before receipts were signed", "receiptUnsigned")
        return stored

    def _stored_receipt(self, ref: str) -> str:
        with self.store.read() as tx:
            stored = tx.receipt(ref)
        if stored is None:
            raise errors.NotFound("no receipt for that order")
        return stored

    def health(self) -> dict[str, Any]:
        report: dict[str, Any] = {"status": "ok"}
        try:
            self.hsm.ping()
            report["hsm"] = "ok"
            report["keyIndex"] = self.hsm.index_state  # off, loading, ready or failed
        except HsmError as e:
            report["hsm"] = f"unavailable: {e}"
            report["status"] = "unavailable"
        try:
            with self.store.tx() as tx:
                tx.execute("SELECT COUNT(*) FROM schema_version")
            report["store"] = "ok"
        except Exception as e:  # any driver error means the store is not usable
            report["store"] = f"unavailable: {type(e).__name__}"
            report["status"] = "unavailable"
        return report
