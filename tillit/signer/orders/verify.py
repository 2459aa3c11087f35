"""The steps after the phone's approval: the password check (one at a time per order), the
code-device login's code, and after a crash, the checks and signings that were running (this
instance's, or another's whose lease ran out: `signer.leases`).

A guess is counted in the transaction that decides it (`signer.guesses`), whatever became of the
order meanwhile. The HSM going away while completing hands the order back to `approved`, so the
password can be sent again.
"""

from __future__ import annotations

from collections.abc import Callable

from tillit.hsm.errors import HsmError
from tillit.signer import errors
from tillit.signer.context import SignerContext
from tillit.signer.devices.codedevices import CodeDevices
from tillit.signer.guesses import CODE_FREE_FAILURES, Locked, Secret
from tillit.signer.kiosk_orders import collect_response, kiosk_order, readable_kiosk_order
from tillit.signer.orders.completion import completion_data
from tillit.signer.passwords import keep_rehashed
from tillit.signer.states import HintCode, OrderKind, OrderMethod, OrderStatus
from tillit.signer.store.records import Device, Kiosk
from tillit.signer.wire import CollectResponse

MAX_SIGNING_RESUMES = 3


class Verification:
    def __init__(self, context: SignerContext, sign_order: Callable[[str], None], code_devices: CodeDevices) -> None:
        self.context = context
        self.sign_order = sign_order  # `DocumentSigner.sign_order`: signs an order in 'signing' and completes it
        self.code_devices = code_devices

    def recover(self) -> None:
        """At start: the password checks and signings this instance was running when it died, and
        those of other instances whose lease ran out (`signer.leases`), are taken over: a password
        check is undone (the kiosk sends the password again), a signing is resumed. Those another
        instance holds a live lease on are left to it.

        Resuming cannot sign twice: the signatures of an interrupted signing existed only in the dead
        process, because they are stored in the one transaction that completes the order. Signing
        again therefore releases exactly one signature per document. An order whose signing was
        already resumed `MAX_SIGNING_RESUMES` times (the daemon died each time while signing it,
        perhaps because of it) fails instead, so a document that crashes the signer cannot crash it
        at every start; a daemon merely killed twice in a row (as the crash proofs do) still
        completes the order.
        """
        self._take_over(own=True)

    def take_over_expired(self) -> int:
        """While serving (the maintenance sweep): take over, as `recover` does, the orders of other
        instances whose lease ran out; never this instance's own, which may be running here. How many."""
        return self._take_over(own=False)

    def _take_over(self, *, own: bool) -> int:
        context = self.context
        at = context.clock()
        me = context.instance
        until = at + context.settings.lease_seconds
        resume: list[str] = []
        taken = 0
        with context.store.tx() as tx:
            for order in tx.running_orders():
                if order.runner == me and not own:
                    continue
                if not own and (order.lease_until is None or order.lease_until > at):
                    continue  # held by its live runner (or by an instance too old to record leases)
                if not tx.take_over(order.ref, order.status, me, at, until):
                    continue  # another instance holds a live lease on it, or it moved on meanwhile
                taken += 1
                was = {"runner": order.runner} if order.runner not in (None, me) else {}
                if order.status == OrderStatus.VERIFYING:
                    tx.transition(order.ref, [OrderStatus.VERIFYING], OrderStatus.APPROVED, HintCode.USER_SIGN)
                    tx.audit("order.recovered", order.ref, at, state="approved", **was)
                    continue
                resumed = tx.count_audit("order.resumed", order.ref)
                if resumed >= MAX_SIGNING_RESUMES:
                    why = f"interrupted {MAX_SIGNING_RESUMES + 1} times"
                    tx.fail_order(order.ref, [OrderStatus.SIGNING], HintCode.SIGNING_FAILED, at, why=why)
                else:
                    tx.audit("order.resumed", order.ref, at, **was)
                    resume.append(order.ref)
        for ref in resume:
            try:
                with context.leases.holding(ref):
                    self.sign_order(ref)
            except HsmError:  # the HSM is away: back to 'approved', the password may come again
                self._release_verifying(ref, "hsm unavailable")
        return taken

    def submit_code(self, kiosk: Kiosk, ref: str, code: str) -> CollectResponse:
        """A code-device login: the one-time code stands where the phone's approval would."""
        context = self.context
        with context.order_lock(ref), context.store.tx() as tx:
            order = kiosk_order(context, tx, kiosk, ref)
            if order.method != OrderMethod.CODE_DEVICE:
                raise errors.Conflict("this order is approved on the phone, not with a code device")
            if order.status != OrderStatus.PENDING:
                return collect_response(context, order, None)
            assert order.customer_id is not None
            customer = tx.customer(order.customer_id)
            assert customer is not None
            at = context.clock()
            if not self.code_devices.check(tx, customer.personal_number, customer.id, code):
                failures, _ = tx.code_throttle(customer.personal_number)
                response = collect_response(context, order, None)
                response.hint_code = HintCode.WRONG_CODE
                response.attempts_left = max(0, CODE_FREE_FAILURES - failures)
                return response
            tx.transition(ref, [OrderStatus.PENDING], OrderStatus.APPROVED, HintCode.USER_SIGN, approved_at=at)
            tx.audit("order.approved", ref, at, codeDevice=True)
            return collect_response(context, tx.order(ref) or order, None)

    def submit_password(self, kiosk: Kiosk, ref: str, password: str) -> CollectResponse:
        """Check the password of an approved order. One check per order runs at a time."""
        # The lease, taken when the check starts, is renewed until the order is complete: a check or
        # signing waiting on a stalled HSM stays this instance's (signer/leases.py).
        with self.context.order_lock(ref), self.context.leases.holding(ref):
            try:
                return self._submit_password(kiosk, ref, password)
            except HsmError:
                # The HSM went away while completing (JWT or signatures): nothing was completed or
                # released. Hand the order back to 'approved' so the password can be sent again
                # once the HSM answers; the caller gets 503.
                self._release_verifying(ref, "hsm unavailable")
                raise

    def _release_verifying(self, ref: str, why: str) -> None:
        """A password check or signing that cannot finish: back to `approved`, audited."""
        at = self.context.clock()
        with self.context.store.tx() as tx:
            moved = tx.transition(
                ref, [OrderStatus.VERIFYING, OrderStatus.SIGNING], OrderStatus.APPROVED, HintCode.USER_SIGN
            )
            if moved:
                tx.audit("order.recovered", ref, at, state="approved", why=why)

    def _submit_password(self, kiosk: Kiosk, ref: str, password: str) -> CollectResponse:
        # Looked up without the writer's lock; the order's move to 'verifying' and the guess's
        # admission (`Guesses.admit`, under the customer's row lock) are what decide whether this
        # check may run.
        context = self.context
        device: Device | None = None
        with context.store.read() as rtx:
            found = readable_kiosk_order(context, rtx, kiosk, ref)
            customer = rtx.customer(found.customer_id) if found is not None and found.customer_id else None
            if found is not None and found.kind == OrderKind.AUTH and found.device_id:
                device = rtx.device(found.device_id)  # for the completion data, made before the lock
        if found is None:  # past its lifetime: record the expiry
            with context.store.tx() as tx:
                found = kiosk_order(context, tx, kiosk, ref)
        order = found
        if order.kind not in (OrderKind.AUTH, OrderKind.SIGN):
            raise errors.Conflict("a password completes only a login or a signing order", "wrongOrderKind")
        if order.status == OrderStatus.PENDING:
            raise errors.Conflict("the customer has not approved the request on the phone yet", "notApproved")
        if order.status != OrderStatus.APPROVED:
            return collect_response(context, order, customer)
        assert customer is not None
        at = context.clock()
        with context.store.tx() as tx:
            lease = {"runner": context.instance, "lease_until": at + context.settings.lease_seconds}
            if not tx.transition(ref, [OrderStatus.APPROVED], OrderStatus.VERIFYING, HintCode.USER_SIGN, **lease):
                order = tx.order(ref) or order
                if order.status in (OrderStatus.VERIFYING, OrderStatus.SIGNING):
                    raise errors.Conflict("a password check for this order is already running")
                return collect_response(context, order, customer)
            try:
                admission = context.guesses.admit(tx, customer.id, Secret.PASSWORD, f"order:{ref}")
            except Locked:
                tx.fail_order(ref, [OrderStatus.VERIFYING], HintCode.PASSWORD_LOCKED, at)
                locked = collect_response(context, tx.order(ref) or order, tx.customer(customer.id))
                locked.attempts_left = 0
                return locked
            # Busy raises out of this transaction: rolled back, the order is 'approved' again.
        correct = context.passwords.verify(customer.password_hash, password)
        rehashed: tuple[str, str] | None = None
        grant: str | None = None
        completion: str | None = None
        if correct:
            # HSM work before the writer's lock is taken, kept only if the transaction below
            # completes the order: the hash's seal (a hash put there by anyone but Tillit takes no
            # password), the grant to sign with the customer's key (over the order's device and
            # approval, which never change once it is approved), and a login's token.
            try:
                correct = context.seals.password_intact(customer)
                if correct:
                    grant = context.seals.grant(order)
                    rehashed = context.seals.rehashed(context.passwords, customer, password)
                    if order.kind != OrderKind.SIGN:
                        completion = completion_data(context, order, customer, device, level="high")
            except HsmError:
                with context.store.tx() as tx:  # the guess was computed: decide it before giving up
                    context.guesses.decide(tx, admission, correct)
                raise
        at = context.clock()
        verifying = [OrderStatus.VERIFYING]
        with context.store.tx() as tx:
            # Counted first, whatever became of the order meanwhile: a guess is a guess.
            verdict = context.guesses.decide(tx, admission, correct, last_method=order.method)
            order = tx.order(ref) or order
            if order.status != OrderStatus.VERIFYING:  # blocked or cancelled meanwhile
                return collect_response(context, order, customer)
            if at >= order.expires_at:
                tx.fail_order(ref, verifying, HintCode.EXPIRED_TRANSACTION, at)
                return collect_response(context, tx.order(ref) or order, customer)
            if not verdict.succeeded:
                if verdict.locked:
                    tx.fail_order(ref, verifying, HintCode.PASSWORD_LOCKED, at)
                else:
                    tx.transition(ref, verifying, OrderStatus.APPROVED, HintCode.WRONG_PASSWORD)
                response = collect_response(context, tx.order(ref) or order, customer)
                response.attempts_left = verdict.attempts_left
                return response
            keep_rehashed(tx, customer, rehashed, at)
            if order.kind == OrderKind.SIGN:
                # The lease starts again for the signing: the password check may have taken a while.
                lease = {"runner": context.instance, "lease_until": at + context.settings.lease_seconds}
                tx.transition(ref, verifying, OrderStatus.SIGNING, HintCode.USER_SIGN, grant_seal=grant, **lease)
            else:
                assert completion is not None
                completed = tx.move(
                    order,
                    verifying,
                    OrderStatus.COMPLETE,
                    HintCode.COMPLETE,
                    completed_at=at,
                    completion=completion,
                    level="high",
                    grant_seal=grant,
                )
                tx.insert_session(ref, customer.id, order.kiosk_id, at, at + context.settings.token_lifetime_seconds)
                tx.audit("order.completed", ref, at, level="high")
        if order.kind != OrderKind.SIGN:
            assert completed is not None  # it was read as 'verifying' in the transaction that moved it
            return collect_response(context, completed, customer)
        self.sign_order(ref)
        with context.store.read() as rtx:
            return collect_response(context, rtx.order(ref) or order, customer)
