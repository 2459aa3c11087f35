"""`Connection`: the logged-in sessions to one token, and recovery when they or the token go away.

Sessions: login is per process and token, and closing a logged-in session logs every session out,
so one session is opened with the PIN for the life of the `Hsm` and never closed before the end.
Admin work (generate, import, destroy) runs on a second session so that a 9 ms key generation does
not hold up signatures, and the key index loads on a third (lookup.py).

Faults: an operation that finds its session, handle or token gone recovers once (`_recover`) and is
tried again. Recovery first logs in on fresh sessions; if the token still cannot be found it resets
the module (`C_Finalize` + `C_Initialize`), which is the only way SoftHSM rescans a token directory
that was moved away and back (a remote module such as p11-kit-client connects to its server again).
A reset invalidates every handle in the process, so operations run inside a shared gate and the
reset takes it exclusively. A reset whose `C_Initialize` fails (SoftHSM's whole token store gone, the
HSM's server down) leaves the module uninitialised; operations then go straight to recovery, never
into the library, until a reset succeeds. Sessions of an earlier reset (the module's `epoch`) are
dropped, not closed: their handle numbers may belong to new sessions by then. Only one thread
recovers per failure (a generation counter tells the others that it already happened), and resets
are at most one a second while the token stays away; meanwhile operations raise `TokenUnavailable`,
which the daemon answers with 503. A search that finds nothing checks that the token is still there
before it answers "not found" (`_confirm_token_present`): a token store that went away is searched
as an empty one, and "no certificate" or "no record" then would be a wrong, lasting answer.

Log (logger `tillit.hsm`, never a PIN): a warning with the reason when a recovery first finds the
token still away, another at most once a minute while module resets keep failing, and "HSM back
after N s" at the first operation that succeeds after that (`_outage`, `_back`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pkcs11
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from pkcs11 import Attribute, ObjectClass

from tillit.hsm import capabilities, errors, records
from tillit.hsm.gate import Gate
from tillit.hsm.keys import Algorithm
from tillit.hsm.module import (
    close_all_sessions,
    load_module,
    loaded_module,
    remote_hint,
    reset_module,
    softhsm_environment,
)
from tillit.hsm.settings import HsmSettings
from tillit.hsm.store_lock import store_lock_for

log = logging.getLogger("tillit.hsm")

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def translated(what: str) -> Callable[[F], F]:
    """The boundary for a public method: a PKCS#11 error left over becomes an `HsmError` that says
    what the token refused, never a bare python-pkcs11 exception."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def translated(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except pkcs11.PKCS11Error as e:
                raise errors.HsmError(f"the token refused to {what}: {type(e).__name__}") from e

        return translated  # type: ignore[return-value]

    return decorate


SESSION_GONE = (
    pkcs11.SessionHandleInvalid,
    pkcs11.SessionClosed,
    pkcs11.TokenNotPresent,
    pkcs11.DeviceRemoved,
    pkcs11.UserNotLoggedIn,
    pkcs11.DeviceError,
    pkcs11.GeneralError,
    pkcs11.ObjectHandleInvalid,  # a cached key handle of a session (or a module) that is gone
    pkcs11.KeyHandleInvalid,
    pkcs11.TokenNotRecognised,
    pkcs11.SlotIDInvalid,  # a module reset renumbered the slots
)
RESET_INTERVAL_SECONDS = 1.0
# How often a long outage is logged again while module resets keep failing (one a second).
STILL_AWAY_LOG_SECONDS = 60.0
# How many times a connect initialises the module afresh while a SoftHSM token only seems gone (see
# `_connect_through_torn_reads`), and an operation recovers in that case.
CONNECT_ATTEMPTS = 5


def find_token(lib: Any, settings: HsmSettings) -> Any:
    try:
        if settings.token_serial:
            return lib.get_token(token_serial=settings.token_serial.encode())
        return lib.get_token(token_label=settings.token_label)
    except pkcs11.NoSuchToken:
        where = f"serial {settings.token_serial}" if settings.token_serial else f"'{settings.token_label}'"
        if settings.uses_softhsm:
            raise errors.TokenNotFound(f"token {where} not found (run `tillit-hsm init`)") from None
        raise errors.TokenNotFound(
            f"token {where} not found on {settings.module_path}{remote_hint(settings.module_path)}"
        ) from None
    except pkcs11.MultipleTokensReturned:
        raise errors.TokenNotFound(
            f"several tokens are labelled '{settings.token_label}': set TILLIT_TOKEN_SERIAL"
        ) from None
    except pkcs11.PKCS11Error as e:
        raise errors.TokenUnavailable(f"cannot list the module's tokens: {type(e).__name__}") from e


def require_softhsm_conf(settings: HsmSettings) -> None:
    """Raise TokenNotFound when the token is SoftHSM's and `tillit-hsm init` has not written its
    configuration (nor, so, the home the store lock lives in)."""
    if settings.uses_softhsm and not settings.softhsm_conf.exists():
        raise errors.TokenNotFound(f"no SoftHSM configuration at {settings.softhsm_conf} (run `tillit-hsm init`)")


def open_module(settings: HsmSettings) -> Any:
    """Load and initialise the module (`require_softhsm_conf` first)."""
    if settings.uses_softhsm:
        softhsm_environment(settings.softhsm_conf)
    return load_module(settings.module_path)


class Connection:
    """The logged-in sessions to the configured token, the caches of what was found on it (cleared at
    every reconnect: a handle is only good for the sessions it was found on), and `_retrying`, which
    every operation of the `Hsm` parts (lookup, keypairs, signing, record_objects) runs through."""

    def __init__(self, settings: HsmSettings) -> None:
        self.settings = settings
        require_softhsm_conf(settings)
        self._store = store_lock_for(settings.home if settings.uses_softhsm else None)
        self._lock = threading.RLock()
        self._keys: dict[str, Any] = {}
        self._algorithms: dict[str, Algorithm] = {}
        self._secrets: dict[str, Any] = {}
        self._certificates: dict[str, bytes] = {}
        self._public_keys: dict[str, PublicKeyTypes] = {}
        self._records: dict[str, list[tuple[Any, records.Record]]] = {}
        self._index_wanted = False
        self._index_state = "off"
        self._index_ready = threading.Event()
        self._index_ready.set()
        self._signature_count = 0
        self._signatures_by_key: dict[str, int] = {}
        self._count_lock = threading.Lock()
        self._gate = Gate()
        self._generation = 0
        self._last_reset = 0.0
        # When the current outage began (monotonic), None while the token answers; `_outage_lock`
        # makes its start and end logged once each.
        self._outage_since: float | None = None
        self._outage_logged = 0.0
        self._outage_lock = threading.Lock()
        self.recoveries = 0
        self.resets = 0
        with self._store.exclusive():  # C_Initialize reads the token's files, C_Login writes one
            self._lib = open_module(settings)
            self._module = loaded_module(settings.module_path)
            self._epoch = self._module.epoch  # the module's epoch our sessions were opened in
            self._connect_through_torn_reads(torn_if_unavailable=True)

    def _connect_through_torn_reads(self, torn_if_unavailable: bool) -> None:
        """`_connect`, tried again a few times with the module initialised afresh in between while
        the token may only seem gone. SoftHSM reads the token's files when it is initialised and
        whenever another process changed them, and every C_Login rewrites the token's own file (its
        flags): a read that meets a file half-written takes the token for gone, or misses a key, until
        the module is initialised again. So: initialise again and retry shortly (at most
        CONNECT_ATTEMPTS times, about a second). Tillit's own processes do not write while
        another reads (the store lock); this is for other programs using the token. A SoftHSM token
        whose directory is empty, or (unless `torn_if_unavailable`) a module that answers nothing,
        fails at once. The caller holds the store lock alone, and the gate alone or is the
        connection's only user."""
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                self._connect()
                return
            except (errors.TokenUnavailable, errors.TokenNotFound) as e:
                torn = (torn_if_unavailable and isinstance(e, errors.TokenUnavailable)) or self._softhsm_has_tokens()
                if attempt == CONNECT_ATTEMPTS - 1 or not torn:
                    raise
                time.sleep(0.1 * (attempt + 1))
                # A reset that fails leaves the module uninitialised: the next `_connect` says so.
                with contextlib.suppress(errors.TokenUnavailable):
                    reset_module(self.settings.module_path)

    def _softhsm_has_tokens(self) -> bool:
        """Whether SoftHSM's token directory holds any token (so a token not found may be one being
        written by another process right now)."""
        if not self.settings.uses_softhsm:
            return False
        tokens = self.settings.home / "tokens"
        return tokens.is_dir() and any(tokens.iterdir())

    # -- sessions ------------------------------------------------------------------------------

    def _connect(self) -> None:
        epoch = self._module.epoch
        self._token = find_token(self._lib, self.settings)
        pin = self.settings.user_pin()
        try:
            self._session = self._token.open(user_pin=pin, rw=True)
        except pkcs11.PinIncorrect:
            raise errors.WrongPin(
                f"wrong PIN for token '{self._token.label}' (from {self.settings.user_pin_source()})"
            ) from None
        except pkcs11.PinLocked:
            raise errors.PinLocked(f"the user PIN of token '{self._token.label}' is locked") from None
        except pkcs11.UserAlreadyLoggedIn:
            # Another Hsm in this process is logged in; login is per process, so it counts for us.
            self._session = self._token.open(rw=True)
        except pkcs11.PKCS11Error as e:
            raise errors.TokenUnavailable(f"cannot open the token: {type(e).__name__}") from e
        try:
            self._admin = self._token.open(rw=True)
            # Keys found by `preload` belong to this session: its search holds only this session's
            # operation lock, so signatures on `_session` go on while the index loads.
            self._index_session = self._token.open()
        except pkcs11.PKCS11Error as e:
            raise errors.TokenUnavailable(f"cannot open the token: {type(e).__name__}") from e
        self._keys.clear()
        self._secrets.clear()
        self._certificates.clear()
        self._public_keys.clear()
        self._records.clear()
        self._epoch = epoch
        self._generation += 1
        self._connected()

    def _connected(self) -> None:
        """Called after every (re)connect, the caches empty: a part that loads them ahead overrides it."""

    def close(self) -> None:
        with self._lock, self._store.shared():
            sessions = ("_index_session", "_admin", "_session")
            # After a reset the handles are void, and may name another `Hsm`'s new sessions by now.
            alive = self._epoch == self._module.epoch and self._module.initialised
            for session in (getattr(self, name, None) for name in sessions):
                if session is not None and alive:
                    with contextlib.suppress(pkcs11.PKCS11Error):
                        session.close()
            self._keys.clear()
            self._secrets.clear()
            self._certificates.clear()
            self._public_keys.clear()
            self._records.clear()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Around an operation that writes to the token: the connection's lock, then the store lock
        alone (always in this order; `_retrying` takes the store lock, shared, without the first)."""
        with self._lock, self._store.exclusive():
            yield

    def reconnect(self) -> None:
        """Drop the sessions and cached handles and log in again (after the token came back)."""
        with self._writing():
            self.close()
            self._connect()

    def _recover(self, generation: int) -> None:
        """After an operation found its session or token gone: log in again on fresh sessions, and if
        the token is still not there, reset the module and look once more. Nothing happens when
        another thread already recovered since `generation` was read."""
        with self._writing():
            if self._generation != generation:
                return
            self.recoveries += 1
            first: Exception
            if self._module.initialised:
                try:
                    self.reconnect()
                    return
                except (errors.TokenNotFound, errors.TokenUnavailable, pkcs11.PKCS11Error) as e:
                    first = e
            else:  # a reset failed: nothing but another reset can bring the module back
                first = errors.TokenUnavailable(self._module.failure)
            # At most one reset a second while the token is away; a SoftHSM token whose files are
            # there only seemed gone (a torn read, see `_connect_through_torn_reads`).
            torn = self._softhsm_has_tokens()
            if time.monotonic() - self._last_reset < RESET_INTERVAL_SECONDS and not torn:
                raise self._outage(_gone_message(self.settings.token_label, first), reset_failed=False)
            self._last_reset = time.monotonic()
            with self._gate.exclusive():
                self.resets += 1
                try:
                    reset_module(self.settings.module_path)
                    self._connect_through_torn_reads(torn_if_unavailable=False)
                except (errors.TokenNotFound, errors.TokenUnavailable, pkcs11.PKCS11Error) as e:
                    raise self._outage(_gone_message(self.settings.token_label, e), reset_failed=True) from None

    def _outage(self, reason: str, reset_failed: bool) -> errors.TokenUnavailable:
        """The error for an operation whose recovery found the token still away, and the outage's log
        lines: a warning when it begins, then one a minute while module resets keep failing."""
        now = time.monotonic()
        with self._outage_lock:
            since = self._outage_since
            if since is None:
                self._outage_since = self._outage_logged = now
            elif reset_failed and now - self._outage_logged >= STILL_AWAY_LOG_SECONDS:
                self._outage_logged = now
            else:
                return errors.TokenUnavailable(reason)
        if since is None:
            log.warning(
                "HSM unavailable: %s (module %s); operations on it fail until it is back",
                reason,
                self.settings.module_path,
                extra={"tillit_event": "hsm.unavailable", "tillit_module": self.settings.module_path},
            )
        else:
            log.warning(
                "HSM still unavailable after %.0f s: %s (a module reset failed; trying again at most once a second)",
                now - since,
                reason,
                extra={"tillit_event": "hsm.still_unavailable", "tillit_seconds": round(now - since, 1)},
            )
        return errors.TokenUnavailable(reason)

    def _back(self) -> None:
        """Log the end of an outage, once: an operation succeeded since `_outage` logged its start."""
        with self._outage_lock:
            since, self._outage_since = self._outage_since, None
        if since is not None:
            away = time.monotonic() - since
            log.info(
                "HSM back after %.1f s (token '%s')",
                away,
                self.settings.token_label,
                extra={"tillit_event": "hsm.back", "tillit_seconds": round(away, 1)},
            )

    def _run(self, operation: Callable[[], T]) -> T:
        """The operation under the store lock and the gate, shared; the end of an outage logged."""
        with self._store.shared(), self._gate.shared():
            done = operation()
        if self._outage_since is not None:  # the only cost while the token answers
            self._back()
        return done

    def _retrying(self, operation: Callable[[], T]) -> T:
        """Run an operation; if the session, a handle or the token went away, recover and try again:
        once, or up to CONNECT_ATTEMPTS times for a SoftHSM token whose files are there (it only
        seemed gone: a torn read, see `_connect_through_torn_reads`)."""
        generation = self._generation
        if self._epoch == self._module.epoch:  # else our sessions died in a reset: recover first
            try:
                return self._run(operation)
            except SESSION_GONE:
                pass
        attempt = 1
        while True:
            self._recover(generation)
            generation = self._generation
            try:
                return self._run(operation)
            except errors.HsmError:
                raise
            except SESSION_GONE as e:
                if attempt == CONNECT_ATTEMPTS or not self._softhsm_has_tokens():
                    raise errors.TokenUnavailable(f"the token is not available: {type(e).__name__}") from e
            except pkcs11.PKCS11Error as e:
                raise errors.TokenUnavailable(f"the token is not available: {type(e).__name__}") from e
            attempt += 1

    @translated("answer")
    def ping(self) -> None:
        """Raise TokenUnavailable unless the token is present and our logged-in session answers now."""

        def probe() -> None:
            self._token.slot.get_token()  # C_GetTokenInfo: fails once the token is gone
            self._session.generate_random(64)

        self._retrying(probe)

    @translated("say what it can do")
    def check_capabilities(self) -> None:
        """Raise `ModuleUnsuitable`, one line naming everything missing, unless the token has what
        the signer daemon needs (hsm/capabilities.py; called when the daemon starts)."""
        with self._writing(), self._gate.shared():  # the checks make and destroy objects
            found = capabilities.missing(self._token, self._admin, self.settings.module_path)
        if found:
            raise errors.ModuleUnsuitable(
                f"the PKCS#11 module {self.settings.module_path} (token '{self._token.label}') lacks what"
                f" the daemon needs: {'; '.join(found)}"
            )

    def close_all_sessions(self) -> int:
        """`C_CloseAllSessions` on our slot behind python-pkcs11's back: the daemon's test hook for
        "the session was closed under us" (see signer/testhooks.py). Returns the CKR value."""
        with self._store.shared(), self._gate.shared():
            return close_all_sessions(self.settings.module_path, int(self._token.slot.slot_id))

    def _find(self, object_class: ObjectClass, label: str, key_id: bytes | None = None) -> list[Any]:
        template: dict[Attribute, Any] = {Attribute.CLASS: object_class, Attribute.LABEL: label}
        if key_id is not None:
            template[Attribute.ID] = key_id
        found = list(self._admin.get_objects(template))
        if not found:
            self._confirm_token_present()
        return found

    def _confirm_token_present(self) -> None:
        """Raise (a PKCS#11 error `_retrying` recovers from) unless the token is still there, so that
        "nothing found" is never the answer of a token that went away: SoftHSM answers a search with
        nothing, not an error, once its token directory is gone (C_GetTokenInfo fails then)."""
        self._token.slot.get_token()


def _gone_message(label: str, cause: Exception) -> str:
    if isinstance(cause, errors.TokenNotFound):
        return f"token '{label}' is not present (removed?)"
    if isinstance(cause, errors.TokenUnavailable) and str(cause):
        return f"token '{label}' is not answering: {cause}"
    return f"token '{label}' is not answering ({type(cause).__name__})"
