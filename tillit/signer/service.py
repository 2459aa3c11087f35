"""The signer's facade: one object the HTTP layer, the CLI and the tests call, built in one place.

`Signer(settings, store, hsm)` builds the context (signer/context.py: settings, store, the HSM as
a key store, CA, clock, notifier, passwords, tokens, limits) and hands it to each subsystem:
orders/ (start, collect, approvals, verify, signing, reset), customers/ (enrolment, keys,
lifecycle, guardians, control questions), devices/ (auth, binding, activation, code devices) and
branch/ (kiosks, agreements, feedback, relying parties); the BankID RP face's orders are in
orders/rp*.py. The methods here only pass calls on; the rules are in the
subsystems, and the order states and their moves in signer/states.py.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tillit.hsm.client import Hsm
from tillit.signer.branch.agreements import Agreements
from tillit.signer.branch.feedback import Feedback
from tillit.signer.branch.kiosks import Kiosks
from tillit.signer.branch.relying_parties import RelyingParties
from tillit.signer.context import build_context, now
from tillit.signer.customers.enrolment import Enrolment
from tillit.signer.customers.guardians import Guardians
from tillit.signer.customers.keys import CustomerKeys
from tillit.signer.customers.lifecycle import Lifecycle
from tillit.signer.customers.lookup import find_customer
from tillit.signer.devices.activation import Activations
from tillit.signer.devices.auth import DeviceAuth, DeviceRequest
from tillit.signer.devices.binding import DeviceBinding
from tillit.signer.devices.codedevices import CodeDevices
from tillit.signer.document_checks import NewDocument
from tillit.signer.orders.approvals import Approvals
from tillit.signer.orders.collect import OrderOutcomes
from tillit.signer.orders.reset import PasswordResets
from tillit.signer.orders.rp import RpOrders
from tillit.signer.orders.rp_claims import RpClaims
from tillit.signer.orders.start import OrderStarts
from tillit.signer.orders.verify import Verification
from tillit.signer.settings import SignerSettings
from tillit.signer.states import OrderMethod
from tillit.signer.store.base import Store
from tillit.signer.store.records import Customer, Device, Kiosk
from tillit.signer.tokens import TokenIssuer
from tillit.signer.wire import AppRequest, CollectResponse, OrderStarted

if TYPE_CHECKING:
    from tillit.signer.orders.signing import DocumentSigner


class Signer:
    """The daemon's core; thread-safe. HTTP handlers and CLI commands call these methods."""

    def __init__(self, settings: SignerSettings, store: Store, hsm: Hsm, clock: Callable[[], float] = now) -> None:
        self.context, self.audit_log = build_context(settings, store, hsm, clock)
        context = self.context
        self.settings, self.store, self.hsm, self.clock = settings, store, hsm, clock
        self.ca, self.passwords, self.notifier = context.ca, context.passwords, context.notifier
        self.limits, self.guesses, self.messages = context.limits, context.guesses, context.messages
        self.retention, self.metrics = context.retention, context.metrics
        self.keys = CustomerKeys(context)
        guardians = Guardians(context)
        self.enrolment = Enrolment(context, self.keys, guardians)
        self.lifecycle = Lifecycle(context, self.keys)
        self.device_auth = DeviceAuth(context)
        self.binding = DeviceBinding(context)
        self.code_devices = CodeDevices(context)
        self.activations = Activations(context, self.binding, self.code_devices)
        self.kiosk_registry = Kiosks(context)
        self.relying_parties = RelyingParties(context)
        self.agreements = Agreements(context)
        self.feedback = Feedback(context)
        self.starts = OrderStarts(context)
        self.outcomes = OrderOutcomes(context)
        self.approvals = Approvals(context, self.device_auth, guardians)
        self.verification = Verification(context, self.sign_order, self.code_devices)
        self.resets = PasswordResets(context, self.starts)
        self.rp_orders = RpOrders(context, self.starts, self.outcomes)
        self.rp_claims = RpClaims(context, self.verification)

    @functools.cached_property
    def documents(self) -> DocumentSigner:
        """The signer of orders' documents, built at the first signature."""
        # Imported here: pyHanko's signers take about 0.4 s to import, which every administrator's
        # command would pay, and none of them signs a document (`serve` builds it at start).
        from tillit.signer.orders.signing import DocumentSigner

        return DocumentSigner(self.context)

    def sign_order(self, ref: str) -> None:
        """Sign the documents of an order in state `signing` and complete it: `DocumentSigner.sign_order`."""
        self.documents.sign_order(ref)

    @property
    def tokens(self) -> TokenIssuer:
        return self.context.tokens

    def recover(self) -> None:
        """After a crash: see `Verification.recover`."""
        self.verification.recover()

    def take_over_expired(self) -> int:
        """Other instances' expired leases taken over: see `Verification.take_over_expired`."""
        return self.verification.take_over_expired()

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
        return self.enrolment.enrol(personal_number, name, mobile, email, password, guardian_number, control_answers)

    def customer(self, personal_number: str) -> Customer:
        return find_customer(self.context, personal_number)

    def customers(self) -> list[Customer]:
        return self.enrolment.customers()

    def unlock(self, personal_number: str, by: str = "administrator") -> Customer:
        return self.enrolment.unlock(personal_number, by)

    def revoke_certificate(self, personal_number: str, reason: str = "unspecified") -> Customer:
        return self.keys.revoke_certificate(personal_number, reason)

    def current_crl(self) -> bytes:
        return self.context.crl.current()

    # -- devices -------------------------------------------------------------------------------

    def bind_device(self, customer: Customer, public_key: bytes, name: str, how: str) -> Device:
        return self.binding.bind_device(customer, public_key, name, how)

    def add_device(self, personal_number: str, public_key: bytes, name: str = "phone") -> Device:
        return self.binding.add_device(personal_number, public_key, name)

    def active_device_info(self, customer_id: str) -> dict[str, Any] | None:
        return self.binding.active_device_info(customer_id)

    def set_biometric(self, device: Device, on: bool) -> bool:
        return self.binding.set_biometric(device, on)

    def device_active(self, device_id: str) -> bool:
        return self.binding.device_active(device_id)

    def authenticate_device(
        self, method: str, path: str, body: bytes, headers: dict[str, str], allow_inactive: bool = False
    ) -> Device:
        return self.device_auth.authenticate(method, path, body, headers, allow_inactive)

    def check_device_request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> DeviceRequest:
        return self.device_auth.check(method, path, body, headers)

    def settle_device_request(self, request: DeviceRequest, allow_inactive: bool = False) -> Device:
        return self.device_auth.settle(request, allow_inactive)

    # -- kiosks --------------------------------------------------------------------------------

    def add_kiosk(self, name: str, role: str = "kiosk") -> tuple[Kiosk, str]:
        return self.kiosk_registry.add_kiosk(name, role)

    def kiosks(self) -> list[Kiosk]:
        return self.kiosk_registry.kiosks()

    def revoke_kiosk(self, kiosk_ref: str) -> Kiosk:
        return self.kiosk_registry.revoke_kiosk(kiosk_ref)

    def kiosk_for_token(self, token: str) -> Kiosk:
        return self.kiosk_registry.kiosk_for_token(token)

    # -- orders --------------------------------------------------------------------------------

    def start_order(
        self,
        kiosk: Kiosk,
        kind: str,
        personal_number: str,
        user_visible_data: str | None,
        documents: list[NewDocument] | None = None,
        method: str = OrderMethod.APP,
        agreement_id: str | None = None,
    ) -> OrderStarted:
        return self.starts.start_order(kiosk, kind, personal_number, user_visible_data, documents, method, agreement_id)

    def remembered_method(self, kiosk: Kiosk, personal_number: str) -> str | None:
        return self.starts.remembered_method(kiosk, personal_number)

    def collect(self, kiosk: Kiosk, ref: str) -> CollectResponse:
        return self.outcomes.collect(kiosk, ref)

    def cancel(self, kiosk: Kiosk, ref: str) -> CollectResponse:
        return self.outcomes.cancel(kiosk, ref)

    def submit_code(self, kiosk: Kiosk, ref: str, code: str) -> CollectResponse:
        return self.verification.submit_code(kiosk, ref, code)

    def submit_password(self, kiosk: Kiosk, ref: str, password: str) -> CollectResponse:
        return self.verification.submit_password(kiosk, ref, password)

    def pending_requests(self, device: Device) -> list[AppRequest]:
        return self.approvals.pending_requests(device)

    def poll(self, device: Device) -> tuple[list[AppRequest], bool]:
        return self.approvals.poll(device)

    def decide(self, device: Device, ref: str, decision: str, signature: bytes, biometric: bool = False) -> str:
        return self.approvals.decide(device, ref, decision, signature, biometric)

    def decide_request(
        self, request: DeviceRequest, ref: str, decision: str, signature: bytes, biometric: bool = False
    ) -> str:
        return self.approvals.decide_request(request, ref, decision, signature, biometric)

    def signed_document(self, kiosk: Kiosk, ref: str, index: int) -> tuple[bytes, str, str]:
        return self.outcomes.signed_document(kiosk, ref, index)

    def receipt(self, ref: str) -> dict[str, Any]:
        return self.outcomes.receipt(ref)

    def receipt_jws(self, ref: str) -> str:
        return self.outcomes.receipt_jws(ref)

    def kiosk_receipt(self, kiosk: Kiosk, ref: str) -> str:
        return self.outcomes.kiosk_receipt(kiosk, ref)

    # -- health --------------------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        """The HSM's and the store's state, `ok` or `unavailable` with the reason, within about 2 s
        whatever they do (`signer.health`)."""
        return await self.context.health.check()
