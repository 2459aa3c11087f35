"""`Hsm`: one process's connection to its token, with key generation, signing and a key-handle cache.

Sessions: login is per process and token, and closing a logged-in session logs every session out,
so one session is opened with the PIN for the life of the `Hsm` and never closed before the end.
Keys are looked up once and the python-pkcs11 object (which holds the handle) is cached: SoftHSM's
object search is linear in the token's objects (270 ms at 10,000 key pairs) while signing with a
handle in hand takes ~0.05 ms. python-pkcs11 serialises operations on a session with its own lock,
so the cached objects are safe to use from any thread; admin work (generate, import, destroy) runs
on a second session so that a 9 ms key generation does not hold up signatures.

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
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import pkcs11
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters
from pkcs11.util.rsa import encode_rsa_public_key

from tillit.hsm import capabilities, errors, records
from tillit.hsm.keys import Algorithm, KeyInfo
from tillit.hsm.module import (
    close_all_sessions,
    load_module,
    loaded_module,
    remote_hint,
    reset_module,
    softhsm_environment,
)
from tillit.hsm.settings import HsmSettings

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def _translated(what: str) -> Callable[[F], F]:
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


_SESSION_GONE = (
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
# Searches of a record while one of its objects reads as torn (being written by another process).
TORN_RECORD_READS = 20
CONNECT_ATTEMPTS = 5


def key_kind(label: str) -> str:
    """What a key is for, from its label: per-person keys (`customer:<id>:<generation>`) share one kind."""
    return label.split(":", 1)[0]


class _Gate:
    """A readers-writer lock: PKCS#11 operations share it, a module reset holds it alone.

    Re-entrant for readers on one thread (an operation may call another); writers are preferred,
    so a reset waits only for the operations already inside the library. `shared()` is a plain
    object with `__enter__`/`__exit__`, not a generator: it is on the path of every signature.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0
        self._local = threading.local()
        self._shared = _SharedHold(self)

    def shared(self) -> _SharedHold:
        return self._shared

    def _enter_shared(self) -> None:
        local = self._local
        depth = getattr(local, "depth", 0)
        if depth == 0:
            with self._cond:
                while self._writer or self._writers_waiting:
                    self._cond.wait()
                self._readers += 1
        local.depth = depth + 1

    def _exit_shared(self) -> None:
        local = self._local
        depth = local.depth - 1
        local.depth = depth
        if depth == 0:
            with self._cond:
                self._readers -= 1
                if self._readers == 0:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class _SharedHold:
    """`with gate.shared():` — one per gate, safe for every thread (the depth is thread-local)."""

    __slots__ = ("_gate",)

    def __init__(self, gate: _Gate) -> None:
        self._gate = gate

    def __enter__(self) -> None:
        self._gate._enter_shared()

    def __exit__(self, *exc: object) -> None:
        self._gate._exit_shared()


@dataclass(frozen=True)
class TokenStatus:
    module: str
    manufacturer: str
    label: str
    serial: str
    model: str
    keys: int
    certificates: int

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


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


def open_module(settings: HsmSettings) -> Any:
    if settings.uses_softhsm:
        if not settings.softhsm_conf.exists():
            raise errors.TokenNotFound(f"no SoftHSM configuration at {settings.softhsm_conf} (run `tillit-hsm init`)")
        softhsm_environment(settings.softhsm_conf)
    return load_module(settings.module_path)


class Hsm:
    """A logged-in connection to the configured token. Use as a context manager or call `close()`."""

    def __init__(self, settings: HsmSettings) -> None:
        self.settings = settings
        self._lib = open_module(settings)
        self._module = loaded_module(settings.module_path)
        self._epoch = self._module.epoch  # the module's epoch our sessions were opened in
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
        self._gate = _Gate()
        self._generation = 0
        self._last_reset = 0.0
        self.recoveries = 0
        self.resets = 0
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                self._connect()
                break
            except (errors.TokenUnavailable, errors.TokenNotFound) as e:
                # SoftHSM reads the tokens' files when the module is initialised, while another
                # process may be writing them (a key generated by a concurrent `customers add`); it
                # then misses the token, or reads it half-written, until it is initialised again.
                # So: initialise again and retry shortly. A token that is not there at all fails at once.
                transient = isinstance(e, errors.TokenUnavailable) or self._softhsm_has_tokens()
                if attempt == CONNECT_ATTEMPTS - 1 or not transient:
                    raise
                time.sleep(0.1 * (attempt + 1))
                # A reset that fails leaves the module uninitialised: the next `_connect` says so.
                with self._gate.exclusive(), contextlib.suppress(errors.TokenUnavailable):
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
            raise errors.WrongPin(f"wrong PIN for token '{self._token.label}'") from None
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
        if self._index_wanted:
            self.start_preload()

    def close(self) -> None:
        with self._lock:
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

    def __enter__(self) -> Hsm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reconnect(self) -> None:
        """Drop the sessions and cached handles and log in again (after the token came back)."""
        with self._lock:
            self.close()
            self._connect()

    def _recover(self, generation: int) -> None:
        """After an operation found its session or token gone: log in again on fresh sessions, and if
        the token is still not there, reset the module and look once more. Nothing happens when
        another thread already recovered since `generation` was read."""
        with self._lock:
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
            if time.monotonic() - self._last_reset < RESET_INTERVAL_SECONDS:
                raise errors.TokenUnavailable(_gone_message(self.settings.token_label, first))
            self._last_reset = time.monotonic()
            with self._gate.exclusive():
                self.resets += 1
                try:
                    reset_module(self.settings.module_path)
                    self._connect()
                except (errors.TokenNotFound, errors.TokenUnavailable, pkcs11.PKCS11Error) as e:
                    raise errors.TokenUnavailable(_gone_message(self.settings.token_label, e)) from None

    def _retrying(self, operation: Callable[[], T]) -> T:
        """Run an operation; if the session, a handle or the token went away, recover once and try again."""
        generation = self._generation
        if self._epoch == self._module.epoch:  # else our sessions died in a reset: recover first
            try:
                with self._gate.shared():
                    return operation()
            except _SESSION_GONE:
                pass
        self._recover(generation)
        try:
            with self._gate.shared():
                return operation()
        except errors.HsmError:
            raise
        except pkcs11.PKCS11Error as e:
            raise errors.TokenUnavailable(f"the token is not available: {type(e).__name__}") from e

    @_translated("answer")
    def ping(self) -> None:
        """Raise TokenUnavailable unless the token is present and our logged-in session answers now."""

        def probe() -> None:
            self._token.slot.get_token()  # C_GetTokenInfo: fails once the token is gone
            self._session.generate_random(64)

        self._retrying(probe)

    @_translated("say what it can do")
    def check_capabilities(self) -> None:
        """Raise `ModuleUnsuitable`, one line naming everything missing, unless the token has what
        the signer daemon needs (hsm/capabilities.py; called when the daemon starts)."""
        with self._lock, self._gate.shared():
            found = capabilities.missing(self._token, self._admin, self.settings.module_path)
        if found:
            raise errors.ModuleUnsuitable(
                f"the PKCS#11 module {self.settings.module_path} (token '{self._token.label}') lacks what"
                f" the daemon needs: {'; '.join(found)}"
            )

    def close_all_sessions(self) -> int:
        """`C_CloseAllSessions` on our slot behind python-pkcs11's back: the daemon's test hook for
        "the session was closed under us" (see signer/testhooks.py). Returns the CKR value."""
        with self._gate.shared():
            return close_all_sessions(self.settings.module_path, int(self._token.slot.slot_id))

    # -- lookup --------------------------------------------------------------------------------

    def _private_key(self, label: str) -> Any:
        key = self._keys.get(label)
        if key is None and self._await_index():
            key = self._keys.get(label)
        if key is None:
            try:
                key = self._session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
            except pkcs11.NoSuchKey:
                self._confirm_token_present()
                raise errors.KeyNotFound(f"no private key labelled '{label}' on the token") from None
            except pkcs11.MultipleObjectsReturned:
                raise errors.HsmError(f"several private keys are labelled '{label}'") from None
            # Algorithm first: another thread may sign as soon as the key is in the cache.
            self._algorithms[label] = _algorithm_of(key)
            self._keys[label] = key
        return key

    @_translated("look the key up")
    def has_key(self, label: str) -> bool:
        try:
            self._retrying(lambda: self._private_key(label))
        except errors.KeyNotFound:
            return False
        return True

    @_translated("look the key up")
    def algorithm(self, label: str) -> Algorithm:
        self._retrying(lambda: self._private_key(label))
        return self._algorithms[label]

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

    # -- key index -----------------------------------------------------------------------------

    @property
    def index_state(self) -> str:
        """`off` (keys are looked up one by one), `loading`, `ready`, or `failed` (lookups search)."""
        return self._index_state

    def start_preload(self) -> None:
        """`preload` in a background thread; lookups meanwhile wait for it rather than search."""
        self._index_wanted = True
        self._index_state = "loading"
        self._index_ready.clear()
        threading.Thread(target=self.preload, name="hsm-key-index", daemon=True).start()

    def preload(self) -> int:
        """Find every private key and certificate on the token in one enumeration each, and cache
        them, so that no signature, order start or certificate lookup searches the token.

        SoftHSM searches linearly: finding one key among 10,000 key pairs takes ~270 ms, while one
        enumeration of all of them takes about a second. Keys made later by another process (an
        administrator's `customers add`) are still found by a search on first use, then cached.
        Reconnecting after a fault loads the index again. Returns the number of keys indexed.
        """
        self._index_wanted = True
        self._index_state = "loading"
        self._index_ready.clear()
        generation = self._generation
        try:
            with self._gate.shared():
                keys, algorithms, certificates = _enumerate(self._index_session)
        except pkcs11.PKCS11Error:
            keys, algorithms, certificates = {}, {}, {}
            failed = True
        else:
            failed = False
        with self._lock:
            if generation != self._generation:
                return 0  # a reconnect meanwhile: its own load replaces this one
            for label, key in keys.items():
                if label not in self._keys:
                    self._algorithms[label] = algorithms[label]
                    self._keys[label] = key
            for label, der in certificates.items():
                self._certificates.setdefault(label, der)
            # Failed: a session or the token went away; lookups search (and recover) as without an index.
            self._index_state = "failed" if failed else "ready"
            self._index_ready.set()
        return len(keys)

    def _await_index(self, timeout: float = 60.0) -> bool:
        """While the index loads, wait for it; True when the caller should look in the caches again.
        Gives up (and the caller searches) when a module reset waits for the gate, which the load
        may not be able to enter before this caller leaves it."""
        if self._index_ready.is_set():
            return False
        deadline = time.monotonic() + timeout
        while not self._index_ready.wait(0.05):
            if self._gate._writers_waiting or time.monotonic() > deadline:
                return False
        return True

    # -- keys ----------------------------------------------------------------------------------

    @_translated("generate the key")
    def generate_key(self, label: str, algorithm: Algorithm = Algorithm.EC_P256) -> KeyInfo:
        """Generate a sign-only key pair in the token; the private key can never leave it."""
        if not label or len(label) > 128:
            raise errors.HsmError("a key label is 1 to 128 characters")
        with self._lock:
            if self._find(ObjectClass.PRIVATE_KEY, label):
                raise errors.KeyExists(f"a key labelled '{label}' already exists")
            key_id = secrets.token_bytes(16)
            public_template, private_template = key_templates(label, key_id)
            try:
                if algorithm.is_ec:
                    params = self._admin.create_domain_parameters(
                        KeyType.EC,
                        {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
                        local=True,
                    )
                    params.generate_keypair(
                        store=True, public_template=public_template, private_template=private_template
                    )
                else:
                    self._admin.generate_keypair(
                        KeyType.RSA,
                        algorithm.rsa_bits,
                        store=True,
                        public_template=public_template,
                        private_template=private_template,
                    )
            except pkcs11.PKCS11Error as e:
                raise errors.HsmError(f"the token could not generate the key: {type(e).__name__}") from e
        return self.key_info(label)

    @_translated("read the key's attributes")
    def key_info(self, label: str) -> KeyInfo:
        attrs = self._retrying(
            lambda: self._private_key(label).get_attributes(
                [
                    Attribute.ID,
                    Attribute.SENSITIVE,
                    Attribute.ALWAYS_SENSITIVE,
                    Attribute.EXTRACTABLE,
                    Attribute.NEVER_EXTRACTABLE,
                    Attribute.LOCAL,
                    Attribute.SIGN,
                ]
            )
        )
        return KeyInfo(
            label=label,
            id_hex=bytes(attrs[Attribute.ID]).hex(),
            algorithm=self._algorithms[label],
            sensitive=bool(attrs[Attribute.SENSITIVE]),
            always_sensitive=bool(attrs[Attribute.ALWAYS_SENSITIVE]),
            extractable=bool(attrs[Attribute.EXTRACTABLE]),
            never_extractable=bool(attrs[Attribute.NEVER_EXTRACTABLE]),
            local=bool(attrs[Attribute.LOCAL]),
            can_sign=bool(attrs[Attribute.SIGN]),
            has_certificate=bool(self._retrying(lambda: self._find(ObjectClass.CERTIFICATE, label))),
        )

    @_translated("list its keys")
    def list_keys(self) -> list[KeyInfo]:
        def labels() -> list[str]:
            keys = self._admin.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY})
            return sorted(k.label for k in keys)

        return [self.key_info(label) for label in self._retrying(labels)]

    @_translated("destroy the key")
    def destroy_key(self, label: str) -> None:
        """Destroy the key pair and any certificate stored beside it."""
        with self._lock:
            found = [
                obj
                for cls in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY, ObjectClass.CERTIFICATE)
                for obj in self._find(cls, label)
            ]
            if not any(o.object_class == ObjectClass.PRIVATE_KEY for o in found):
                raise errors.KeyNotFound(f"no private key labelled '{label}' on the token")
            self._keys.pop(label, None)
            self._certificates.pop(label, None)
            self._public_keys.pop(label, None)
            for obj in found:
                obj.destroy()

    @_translated("give the public key")
    def public_key(self, label: str) -> PublicKeyTypes:
        """The public half of a key pair (cached: a lookup searches the token).

        Matched to the private key by ID as well as label: SoftHSM stores the public half first,
        so a process killed inside `generate_key` leaves a public key with no private one, and
        the next generation under that label adds a second public key beside it."""
        cached = self._public_keys.get(label)
        if cached is not None:
            return cached

        def load() -> PublicKeyTypes:
            try:
                key_id = bytes(self._private_key(label)[Attribute.ID])
            except errors.KeyNotFound:
                raise errors.KeyNotFound(f"no public key labelled '{label}' on the token") from None
            found = self._find(ObjectClass.PUBLIC_KEY, label, key_id)
            if not found:
                raise errors.KeyNotFound(f"no public key labelled '{label}' on the token")
            if len(found) > 1:
                raise errors.HsmError(f"several public keys are labelled '{label}' with the private key's id")
            pub = found[0]
            if pub.key_type == KeyType.EC:
                der = encode_ec_public_key(pub)
            else:
                der = encode_rsa_public_key(pub)
                return serialization.load_der_public_key(_rsa_spki(der))
            return serialization.load_der_public_key(der)

        public = self._retrying(load)
        self._public_keys[label] = public
        return public

    # -- signing -------------------------------------------------------------------------------

    def sign(self, label: str, data: bytes) -> bytes:
        """Sign data with SHA-256: a DER ECDSA signature, or PKCS#1 v1.5 for RSA keys."""
        return self.sign_digest(label, hashlib.sha256(data).digest())

    def sign_digest(self, label: str, digest: bytes) -> bytes:
        """Sign a SHA-256 digest computed on the host (SoftHSM 2.6 has no CKM_ECDSA_SHA256)."""
        if len(digest) != 32:
            raise errors.SigningError("expected a SHA-256 digest")

        def operation() -> bytes:
            key = self._private_key(label)
            if not hasattr(key, "sign"):  # python-pkcs11 leaves `sign` off keys with CKA_SIGN false
                raise errors.SigningError(f"key '{label}' may not sign")
            if self._algorithms[label].is_ec:
                raw = key.sign(digest, mechanism=Mechanism.ECDSA)
                half = len(raw) // 2
                return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
            return bytes(key.sign(_SHA256_DIGEST_INFO + digest, mechanism=Mechanism.RSA_PKCS))

        try:
            signature = self._retrying(operation)
        except errors.HsmError:
            raise
        except pkcs11.PKCS11Error as e:
            # python-pkcs11 has no class for CKR_KEY_FUNCTION_NOT_PERMITTED (0x68): match its message.
            if str(e) == "Unmapped error code 0x68":
                raise errors.SigningError(f"key '{label}' may not sign") from None
            raise errors.SigningError(f"the token refused to sign: {type(e).__name__}") from e
        kind = key_kind(label)
        with self._count_lock:
            self._signature_count += 1
            self._signatures_by_key[kind] = self._signatures_by_key.get(kind, 0) + 1
        return signature

    @property
    def signatures(self) -> int:
        """Signatures this process has asked the token for (the daemon's /metrics publishes it)."""
        return self._signature_count

    def signatures_by_key(self) -> dict[str, int]:
        """`signatures` by key: each service key by its label, every per-person key under the label's
        part before the first ':' (e.g. all customer keys as `customer`)."""
        with self._count_lock:
            return dict(self._signatures_by_key)

    @_translated("change whether the key may sign")
    def set_signing_allowed(self, label: str, allowed: bool) -> None:
        """Mark a key usable or unusable for signing (CKA_SIGN)."""
        with self._lock:
            for obj in self._find(ObjectClass.PRIVATE_KEY, label):
                obj[Attribute.SIGN] = allowed
            self._keys.pop(label, None)

    # -- certificates --------------------------------------------------------------------------

    @_translated("store the certificate")
    def store_certificate(self, label: str, der: bytes) -> None:
        """Store an X.509 certificate beside its key (same label and id), replacing an older one."""
        from asn1crypto import x509

        cert = x509.Certificate.load(der)
        with self._lock:
            key_id = bytes.fromhex(self.key_info(label).id_hex)
            for old in self._find(ObjectClass.CERTIFICATE, label):
                old.destroy()
            self._admin.create_object(
                {
                    Attribute.CLASS: ObjectClass.CERTIFICATE,
                    Attribute.CERTIFICATE_TYPE: pkcs11.CertificateType.X_509,
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: False,
                    Attribute.LABEL: label,
                    Attribute.ID: key_id,
                    Attribute.SUBJECT: cert.subject.dump(),
                    Attribute.ISSUER: cert.issuer.dump(),
                    Attribute.SERIAL_NUMBER: cert["tbs_certificate"]["serial_number"].dump(),
                    Attribute.VALUE: der,
                }
            )
            self._certificates[label] = der

    @_translated("give the certificate")
    def certificate(self, label: str) -> bytes | None:
        """The certificate stored beside a key, or None (cached once found: a lookup searches)."""
        cached = self._certificates.get(label)
        if cached is None and self._await_index():
            cached = self._certificates.get(label)
        if cached is not None:
            return cached

        def load() -> bytes | None:
            found = self._find(ObjectClass.CERTIFICATE, label)
            return bytes(found[0][Attribute.VALUE]) if found else None

        der = self._retrying(load)
        if der is not None:
            self._certificates[label] = der
        return der

    # -- secrets and HMAC (code devices) -------------------------------------------------------

    @_translated("import the secret")
    def import_secret(self, label: str, secret: bytes) -> None:
        """Import an HMAC secret as a sensitive, non-extractable generic secret."""
        with self._lock:
            if self._find(ObjectClass.SECRET_KEY, label):
                raise errors.KeyExists(f"a secret labelled '{label}' already exists")
            self._admin.create_object(
                {
                    Attribute.CLASS: ObjectClass.SECRET_KEY,
                    Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.SIGN: True,
                    Attribute.VERIFY: True,
                    Attribute.LABEL: label,
                    Attribute.VALUE: secret,
                }
            )

    @_translated("compute the HMAC")
    def hmac_sha1(self, label: str, data: bytes) -> bytes:
        def operation() -> bytes:
            key = self._secrets.get(label)
            if key is None:
                try:
                    key = self._session.get_key(object_class=ObjectClass.SECRET_KEY, label=label)
                except pkcs11.NoSuchKey:
                    self._confirm_token_present()
                    raise errors.KeyNotFound(f"no secret labelled '{label}' on the token") from None
                self._secrets[label] = key
            return bytes(key.sign(data, mechanism=Mechanism.SHA_1_HMAC))

        return self._retrying(operation)

    @_translated("destroy the secret")
    def destroy_secret(self, label: str) -> None:
        with self._lock:
            self._secrets.pop(label, None)
            for obj in self._find(ObjectClass.SECRET_KEY, label):
                obj.destroy()

    # -- records (a named counter that only moves forward; hsm/records.py) ------------------------

    def _record_objects(self, label: str) -> list[tuple[Any, records.Record]]:
        """The label's record objects: the ones known from the last search or write when every one
        of them is still on the token (a read by handle: ~0.06 ms), else a search of the token (linear
        in its objects). A writer destroys the objects it supersedes, so another process's newer
        record shows here as a known object gone, which makes the next read search."""
        known = self._records.get(label)
        if known:
            try:
                for obj, _ in known:
                    obj[Attribute.LABEL]  # the read is the check that it still exists
                return known
            except (pkcs11.ObjectHandleInvalid, pkcs11.AttributeTypeInvalid):
                pass
        for _ in range(TORN_RECORD_READS):
            found, torn = [], False
            for obj in self._admin.get_objects(records.search_template(label)):
                record = records.decode(bytes(obj[Attribute.VALUE]))
                if record is None:
                    torn = True  # another process is writing it: its older record must not be the answer
                else:
                    found.append((obj, record))
            if not torn:
                break
            time.sleep(0.01)
        if not found:
            self._confirm_token_present()  # no record, or no token?
        self._records[label] = found
        return found

    @_translated("read the record")
    def read_record(self, label: str) -> records.Record | None:
        """The record named `label` with the highest counter, or None when the token holds none."""
        with self._lock:
            return records.newest(self._retrying(lambda: self._record_objects(label)))

    @_translated("write the record")
    def advance_record(self, label: str, counter: int, payload: bytes) -> bool:
        """Store `payload` under `label` with `counter` if that is higher than the token's record;
        False (and nothing written) when the token already holds this counter or a higher one.

        Creates the new object first and only then destroys the ones it supersedes, so that a crash
        in between leaves two records (the readers take the newer one) and never none. Among several
        processes no lock is needed for the record to stay monotonic (see hsm/records.py)."""
        if not 0 < counter < 2**63:
            raise errors.HsmError("a record's counter is 1 to 2**63-1")
        if len(payload) > records.MAX_PAYLOAD:
            raise errors.HsmError(f"a record holds at most {records.MAX_PAYLOAD} bytes")
        record = records.Record(counter, payload)

        def write() -> bool:
            found = self._record_objects(label)
            current = records.newest(found)
            if current is not None and current.counter >= counter:
                return False
            created = self._admin.create_object(records.template(label, record))
            kept = [(created, record)]
            for obj, old in found:
                if old.counter < counter:
                    with contextlib.suppress(pkcs11.ObjectHandleInvalid):  # another writer removed it first
                        obj.destroy()
                else:
                    kept.append((obj, old))
            self._records[label] = kept
            return True

        with self._lock:
            return self._retrying(write)

    @_translated("destroy the record")
    def destroy_record(self, label: str) -> int:
        """Destroy every object of the record (an administrator's reset); returns how many."""
        with self._lock:
            self._records.pop(label, None)
            found = list(self._admin.get_objects(records.search_template(label)))
            for obj in found:
                obj.destroy()
            return len(found)

    # -- status --------------------------------------------------------------------------------

    @_translated("report its status")
    def status(self) -> TokenStatus:
        def count(cls: ObjectClass) -> int:
            return sum(1 for _ in self._admin.get_objects({Attribute.CLASS: cls}))

        return TokenStatus(
            module=self.settings.module_path,
            manufacturer=self._token.manufacturer_id,
            label=self._token.label,
            serial=self._token.serial.decode() if isinstance(self._token.serial, bytes) else "",
            model=self._token.model,
            keys=self._retrying(lambda: count(ObjectClass.PRIVATE_KEY)),
            certificates=self._retrying(lambda: count(ObjectClass.CERTIFICATE)),
        )


def key_templates(label: str, key_id: bytes) -> tuple[dict[Attribute, Any], dict[Attribute, Any]]:
    """The public and private templates of every key pair made for Tillit: the private half
    sensitive, never extractable, a token object, and good for signing only."""
    public = {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: False,
        Attribute.VERIFY: True,
        Attribute.ENCRYPT: False,
        Attribute.WRAP: False,
        Attribute.LABEL: label,
        Attribute.ID: key_id,
    }
    private = {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.SIGN: True,
        Attribute.SIGN_RECOVER: False,
        Attribute.DECRYPT: False,
        Attribute.UNWRAP: False,
        Attribute.DERIVE: False,
        Attribute.LABEL: label,
        Attribute.ID: key_id,
    }
    return public, private


def _enumerate(session: Any) -> tuple[dict[str, Any], dict[str, Algorithm], dict[str, bytes]]:
    """Every private key (with its algorithm) and every certificate on the token, by label.
    A label held by several objects of a kind is left out, so a lookup reports it as before."""
    keys: dict[str, Any] = {}
    algorithms: dict[str, Algorithm] = {}
    doubled: set[str] = set()
    for key in session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}):
        label = key.label
        if label in keys or label in doubled:
            doubled.add(label)
            keys.pop(label, None)
            continue
        algorithms[label] = _algorithm_of(key)
        keys[label] = key
    certificates: dict[str, bytes] = {}
    doubled.clear()
    for cert in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE}):
        attrs = cert.get_attributes([Attribute.LABEL, Attribute.VALUE])
        label = attrs[Attribute.LABEL]
        if label in certificates or label in doubled:
            doubled.add(label)
            certificates.pop(label, None)
            continue
        certificates[label] = bytes(attrs[Attribute.VALUE])
    return keys, algorithms, certificates


def _gone_message(label: str, cause: Exception) -> str:
    if isinstance(cause, errors.TokenNotFound):
        return f"token '{label}' is not present (removed?)"
    if isinstance(cause, errors.TokenUnavailable) and str(cause):
        return f"token '{label}' is not answering: {cause}"
    return f"token '{label}' is not answering ({type(cause).__name__})"


# DigestInfo prefix for SHA-256 (RFC 8017 section 9.2, note 1).
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def _algorithm_of(key: Any) -> Algorithm:
    if key.key_type == KeyType.EC:
        return Algorithm.EC_P256
    bits = int(key.key_length)
    return Algorithm.RSA_3072 if bits >= 3072 else Algorithm.RSA_2048


def _rsa_spki(pkcs1_der: bytes) -> bytes:
    from asn1crypto import keys

    return bytes(
        keys.PublicKeyInfo(
            {
                "algorithm": {"algorithm": "rsa", "parameters": None},
                "public_key": keys.RSAPublicKey.load(pkcs1_der),
            }
        ).dump()
    )


def verify_public(public_key: PublicKeyTypes, signature: bytes, data: bytes) -> bool:
    """Verify an `Hsm.sign` signature in software (used by tests and the CA's self-checks)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            return False
    except InvalidSignature:
        return False
    return True


@contextmanager
def open_hsm(settings: HsmSettings | None = None) -> Iterator[Hsm]:
    hsm = Hsm(settings or HsmSettings())
    try:
        yield hsm
    finally:
        hsm.close()
