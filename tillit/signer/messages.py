"""Messages to customers (activation codes by SMS and e-mail), through a pluggable sender.

The default sender writes to the store's outbox, which `tillit-signer outbox list` shows, so that
demos and tests can read the codes. A bank plugs in its SMS and e-mail gateway by naming a factory
in `message_sender` (`package.module:factory`, called with the settings); messages are handed to
the sender only after the transaction that made them has committed, so a refused or rolled-back
activation sends nothing.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from tillit.signer import errors
from tillit.signer.store.base import Store

if TYPE_CHECKING:
    from tillit.signer.settings import SignerSettings

OUTBOX = "outbox"


@dataclass(frozen=True)
class Message:
    at: float
    channel: str  # "sms" or "email"
    recipient: str
    subject: str
    body: str


class MessageSender(Protocol):
    def send(self, message: Message) -> None:
        """Deliver one message; raising fails the request that sent it (the code is then unused)."""


class OutboxSender:
    """Keeps messages in the store's outbox (`tillit-signer outbox list --json`)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def send(self, message: Message) -> None:
        with self.store.tx() as tx:
            tx.insert_outbox(message.at, message.channel, message.recipient, message.subject, message.body)


class SenderNotFound(errors.InvalidInput):
    pass


def load_sender(settings: SignerSettings, store: Store) -> MessageSender:
    """The configured sender: the outbox, or `package.module:factory` called with the settings."""
    name = settings.message_sender
    if name == OUTBOX:
        return OutboxSender(store)
    module_name, _, attribute = name.partition(":")
    if not module_name or not attribute:
        raise SenderNotFound(f"message_sender must be 'outbox' or 'package.module:factory', not '{name}'")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as e:
        raise SenderNotFound(f"message_sender '{name}' cannot be loaded: {e}") from None
    sender: MessageSender = factory(settings)
    return sender
