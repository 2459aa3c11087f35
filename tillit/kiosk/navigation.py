"""The steps a kiosk screen asks for: where the customer goes next, in the screen's terms. The
navigator (kiosk/navigator.py) maps each to the next screen; screens never create each other.

Plain values handed to the navigator at once (`KioskContext.navigate`), not posted as Textual
messages: keys typed in one burst after the key that leaves a screen (eleven digits and Enter, a
pasted number) must find the next screen, and a posted message would arrive after them.
"""

from __future__ import annotations

from dataclasses import dataclass

from tillit.kiosk.client import Agreement, SignerError
from tillit.kiosk.state import Order, OrderKind, Receipt
from tillit.signer.wire import CollectResponse, CompletionData


@dataclass(frozen=True)
class ShowWelcome:
    """The welcome screen, the same customer (their language stays)."""


@dataclass(frozen=True)
class StartOver:
    """Back to the welcome screen for the next customer: the open order cancelled, the session ended.
    `feedback_for`: a completed order to ask the customer's feedback on, over the welcome screen. The
    notice and the question are in the customer's language; the kiosk's own comes back once idle."""

    notice: str | None = None
    feedback_for: str | None = None


@dataclass(frozen=True)
class BackToStart:
    """After an order ends: the agreements when someone is logged in, else the welcome screen."""


@dataclass(frozen=True)
class ShowNumber:
    """The number screen, with what has been typed."""

    typed: str = ""


@dataclass(frozen=True)
class TypeDigits:
    """Digits typed at the welcome screen after it asked for the number screen: they go to that one."""

    digits: str


@dataclass(frozen=True)
class ShowMethods:
    """How to log in, for this number."""

    number: str


@dataclass(frozen=True)
class ShowBlock:
    """Block a BankID, the number filled in when known."""

    number: str | None = None


@dataclass(frozen=True)
class ShowOrder:
    """The screen for an order's status: waiting, code, password, logged in, the reset's questions, or
    what went wrong. The order becomes the kiosk's open order."""

    order: Order
    response: CollectResponse


@dataclass(frozen=True)
class ShowLoggedIn:
    """A completed login: the completion token is the customer session; their agreements next."""

    order: Order
    completion: CompletionData


@dataclass(frozen=True)
class ShowPassword:
    """The password again, after a wrong one (while signing)."""

    order: Order
    attempts_left: int | None = None


@dataclass(frozen=True)
class ShowSigning:
    """Signing with the password just typed."""

    order: Order
    password: str


@dataclass(frozen=True)
class ShowReceipt:
    """The signature is done: its receipt."""

    receipt: Receipt


@dataclass(frozen=True)
class ShowAgreements:
    """The logged-in customer's agreements; `feedback_for`: a signature to ask feedback on over them."""

    feedback_for: str | None = None


@dataclass(frozen=True)
class ShowAgreement:
    """One agreement's text, to read and sign."""

    agreement: Agreement


@dataclass(frozen=True)
class ShowQuestions:
    """The forgotten-password order's control questions (asked from the signer when None)."""

    order: Order
    questions: list[str] | None = None
    attempts_left: int | None = None


@dataclass(frozen=True)
class ShowNewPassword:
    """The new password, after the control questions were answered."""

    order: Order
    questions: list[str]
    answers: list[str]


@dataclass(frozen=True)
class ShowFailure:
    """An order that did not go through, and the way on. `error`: also said in a dialog over it;
    `cancel`: an order the customer cannot go on with, cancelled in the background."""

    hint: str | None
    kind: OrderKind = "auth"
    number: str | None = None
    error: SignerError | None = None
    cancel: Order | None = None


@dataclass(frozen=True)
class ShowError:
    """A signer failure in a dialog over the current screen (an ended session goes home instead)."""

    error: SignerError


@dataclass(frozen=True)
class AskFeedback:
    """The feedback question over the current screen, for this completed order."""

    order_ref: str


Step = (
    ShowWelcome
    | StartOver
    | BackToStart
    | ShowNumber
    | TypeDigits
    | ShowMethods
    | ShowBlock
    | ShowOrder
    | ShowLoggedIn
    | ShowPassword
    | ShowSigning
    | ShowReceipt
    | ShowAgreements
    | ShowAgreement
    | ShowQuestions
    | ShowNewPassword
    | ShowFailure
    | ShowError
    | AskFeedback
)
