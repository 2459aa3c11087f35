"""The HSM layer's exceptions: every PKCS#11 failure is translated into one of these at this boundary."""

from __future__ import annotations


class HsmError(Exception):
    """Base class; the message is meant for an administrator."""


class ModuleMissing(HsmError):
    pass


class TokenNotFound(HsmError):
    pass


class ModuleUnsuitable(HsmError):
    """The module or its token lacks a mechanism, object type or session count the daemon needs."""


class TokenAlreadyInitialised(HsmError):
    pass


class WrongPin(HsmError):
    pass


class PinLocked(HsmError):
    pass


class KeyNotFound(HsmError):
    pass


class KeyExists(HsmError):
    pass


class Unavailable(HsmError):
    """Something the HSM layer needs is away for now: the token, or the CA ledger's database. Nothing
    was signed or recorded; retrying later may work."""


class TokenUnavailable(Unavailable):
    """The token went away (removed, session closed) while in use; retrying later may work."""


class SigningError(HsmError):
    pass


class CaNotInitialised(HsmError):
    pass


class LedgerUnavailable(Unavailable):
    """The CA ledger's database did not answer (PostgreSQL down or unreachable); retrying later may work."""
