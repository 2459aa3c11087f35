"""Loading a PKCS#11 module so that several threads may use it at once, and re-initialising it.

python-pkcs11 calls `C_Initialize(NULL)`, which by the standard means "one thread at a time": SoftHSM
then switches its own locking off and two threads in the library crash the process (double free,
SIGSEGV, or a hang in `C_SignInit`). We therefore let python-pkcs11 load the module and read its
function list, skip its `C_Initialize(NULL)`, and call `C_Initialize` with `CKF_OS_LOCKING_OK`
ourselves through the very function list python-pkcs11 calls through (`_function_list_of`). A
second `C_GetFunctionList` would not do: a module may hand out a new, separately initialised list
on each call (p11-kit-client.so does, one connection to its server per list), and python-pkcs11's
would then stay "not initialized". The few calls python-pkcs11 lacks (`C_InitToken`,
`C_CloseAllSessions`, `C_Finalize` + `C_Initialize` for a reset) go through the same list.

A reset whose `C_Initialize` fails (SoftHSM with its token directory gone, a remote module whose
server is down) leaves the module uninitialised (`LoadedModule.initialised`), and the next
`reset_module` tries again.
"""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path
from typing import Any

import pkcs11
from pkcs11 import _pkcs11

from tillit.hsm.errors import HsmError, ModuleMissing, TokenUnavailable

CKF_OS_LOCKING_OK = 0x00000002
CKR_OK = 0x0
CKR_GENERAL_ERROR = 0x5
CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191

_CK_RV = ctypes.c_ulong
_CK_ULONG = ctypes.c_ulong


class _CkVersion(ctypes.Structure):
    _fields_ = (("major", ctypes.c_ubyte), ("minor", ctypes.c_ubyte))


class _CkInitializeArgs(ctypes.Structure):
    _fields_ = (
        ("CreateMutex", ctypes.c_void_p),
        ("DestroyMutex", ctypes.c_void_p),
        ("LockMutex", ctypes.c_void_p),
        ("UnlockMutex", ctypes.c_void_p),
        ("flags", _CK_ULONG),
        ("pReserved", ctypes.c_void_p),
    )


class _CkTokenInfo(ctypes.Structure):
    """CK_TOKEN_INFO (PKCS#11 v2.40 section 3.2); python-pkcs11 reads only a part of it."""

    _fields_ = (
        ("label", ctypes.c_char * 32),
        ("manufacturerID", ctypes.c_char * 32),
        ("model", ctypes.c_char * 16),
        ("serialNumber", ctypes.c_char * 16),
        ("flags", _CK_ULONG),
        ("ulMaxSessionCount", _CK_ULONG),
        ("ulSessionCount", _CK_ULONG),
        ("ulMaxRwSessionCount", _CK_ULONG),
        ("ulRwSessionCount", _CK_ULONG),
        ("ulMaxPinLen", _CK_ULONG),
        ("ulMinPinLen", _CK_ULONG),
        ("ulTotalPublicMemory", _CK_ULONG),
        ("ulFreePublicMemory", _CK_ULONG),
        ("ulTotalPrivateMemory", _CK_ULONG),
        ("ulFreePrivateMemory", _CK_ULONG),
        ("hardwareVersion", _CkVersion),
        ("firmwareVersion", _CkVersion),
        ("utcTime", ctypes.c_char * 16),
    )


_FN = ctypes.CFUNCTYPE
# The head of CK_FUNCTION_LIST, in the order PKCS#11 v2.40 section 5.1 fixes; we need the first fifteen.
_FUNCTION_LIST_HEAD = (
    ("C_Initialize", _FN(_CK_RV, ctypes.c_void_p)),
    ("C_Finalize", _FN(_CK_RV, ctypes.c_void_p)),
    ("C_GetInfo", ctypes.c_void_p),
    ("C_GetFunctionList", ctypes.c_void_p),
    ("C_GetSlotList", ctypes.c_void_p),
    ("C_GetSlotInfo", ctypes.c_void_p),
    ("C_GetTokenInfo", _FN(_CK_RV, _CK_ULONG, ctypes.POINTER(_CkTokenInfo))),
    ("C_GetMechanismList", ctypes.c_void_p),
    ("C_GetMechanismInfo", ctypes.c_void_p),
    (
        "C_InitToken",
        _FN(_CK_RV, _CK_ULONG, ctypes.c_char_p, _CK_ULONG, ctypes.c_char_p),
    ),
    ("C_InitPIN", ctypes.c_void_p),
    ("C_SetPIN", ctypes.c_void_p),
    ("C_OpenSession", ctypes.c_void_p),
    ("C_CloseSession", ctypes.c_void_p),
    ("C_CloseAllSessions", _FN(_CK_RV, _CK_ULONG)),
)


class _CkFunctionList(ctypes.Structure):
    _fields_ = (("version", _CkVersion), *_FUNCTION_LIST_HEAD)


_POINTER_SIZE = ctypes.sizeof(ctypes.c_void_p)
# python-pkcs11's `HasFuncList` (the base of its `lib`, `Slot`, `Token`, `Session`...) holds three C
# fields after the object header: funclist, funclist30, funclist32 (_pkcs11.pyx, 0.10).
_FUNCLIST_OFFSET = object.__basicsize__
_HAS_FUNCLIST_SIZE = object.__basicsize__ + 3 * _POINTER_SIZE

# The values a failed initialisation most often returns, named for the administrator.
_CKR_NAMES = {
    0x5: "CKR_GENERAL_ERROR",
    0x6: "CKR_FUNCTION_FAILED",
    0x7: "CKR_ARGUMENTS_BAD",
    0xA: "CKR_CANT_LOCK",
    0x30: "CKR_DEVICE_ERROR",
    0x31: "CKR_DEVICE_MEMORY",
    0x32: "CKR_DEVICE_REMOVED",
    0x190: "CKR_CRYPTOKI_NOT_INITIALIZED",
}


def ckr_name(rv: int) -> str:
    """`CKR_DEVICE_REMOVED (0x32)`, or the bare number for a value not named here."""
    name = _CKR_NAMES.get(rv)
    return f"{name} (0x{rv:x})" if name else f"CKR 0x{rv:x}"


def _function_list_of(lib: Any) -> Any:
    """The CK_FUNCTION_LIST python-pkcs11's `lib` calls through (a C field Python cannot see).

    Read from the object's memory: `funclist` is the first field after the object header. The size
    of python-pkcs11's `HasFuncList` is checked first, so that another layout fails here, loudly,
    instead of initialising some other memory."""
    if _pkcs11.HasFuncList.__basicsize__ != _HAS_FUNCLIST_SIZE:  # type: ignore[attr-defined]  # not in its stubs
        raise HsmError(
            "this python-pkcs11 keeps its function list elsewhere than Tillit expects"
            " (install the version pyproject.toml names)"
        )
    address = ctypes.c_void_p.from_address(id(lib) + _FUNCLIST_OFFSET).value
    if not address:
        raise ModuleMissing("the PKCS#11 module gave no function list")
    functions = ctypes.cast(address, ctypes.POINTER(_CkFunctionList)).contents
    if functions.version.major not in (2, 3):
        raise ModuleMissing(f"the PKCS#11 module's function list has version {functions.version.major}")
    return functions


def _initialise(functions: Any) -> int:
    """`C_Initialize` with OS locking through `functions`: its CKR value, CKR_OK when already done."""
    args = ctypes.cast(ctypes.pointer(_CkInitializeArgs(flags=CKF_OS_LOCKING_OK)), ctypes.c_void_p)
    rv = int(functions.C_Initialize(args))
    return CKR_OK if rv == CKR_CRYPTOKI_ALREADY_INITIALIZED else rv


class LoadedModule:
    """A loaded module: python-pkcs11's `lib`, the function list it calls through, whether that list
    is initialised now (not after a reset whose `C_Initialize` failed, `failure` then says why), and
    `epoch`, counting the resets: sessions and handles opened in an earlier epoch are gone."""

    def __init__(self, path: str, lib: Any) -> None:
        self.path = path
        self.lib = lib
        self.functions = _function_list_of(lib)
        self.initialised = False
        self.epoch = 0
        self.failure = ""


def _thread_safe_lib(path: str) -> LoadedModule:
    """python-pkcs11's `lib` for the module at `path`, initialised by us with OS locking.

    `lib.__new__` loads the module and reads its function list; its `__init__`, which would call
    `C_Initialize(NULL)`, is never run: `C_Initialize` with OS locking, through the same list, takes
    its place. The object is a plain `lib`, no subclass: python-pkcs11's `__dealloc__` looks
    `unload` up by name, which on a Python subclass fails once interpreter shutdown has cleared the
    subclass (an `AttributeError: ... has no attribute 'unload'` at exit). Left out by skipping
    `__init__`: `lib.so` and the informational manufacturer, description and versions."""
    lib = _pkcs11.lib.__new__(_pkcs11.lib, path)  # type: ignore[call-arg]  # Cython: __cinit__'s arguments
    module = LoadedModule(path, lib)
    rv = _initialise(module.functions)
    if rv != CKR_OK:
        raise ModuleMissing(f"cannot initialise PKCS#11 module {path}: {ckr_name(rv)}{initialise_hint(path, rv)}")
    module.initialised = True
    return module


def remote_hint(path: str) -> str:
    """What to look at when p11-kit's client module finds no token: it shows none while it cannot
    reach its server. Empty for other modules."""
    if "p11-kit-client" in Path(path).name:
        return " (is `p11-kit server` running, and P11_KIT_SERVER_ADDRESS its address?)"
    return ""


def initialise_hint(path: str, rv: int) -> str:
    """What to look at when `C_Initialize` of the module at `path` fails with `rv`: SoftHSM answers
    CKR_GENERAL_ERROR when its token directory is missing or unreadable (its configuration file
    names it); p11-kit's client as `remote_hint` says. Empty otherwise."""
    if "softhsm" in Path(path).name and rv == CKR_GENERAL_ERROR:
        return " (SoftHSM: is its token directory, directories.tokendir in SOFTHSM2_CONF, there and readable?)"
    return remote_hint(path)


def _missing_hint(path: str) -> str:
    """What to do about a module file that is not there, by what it was meant to be."""
    name = Path(path).name
    if "softhsm" in name:
        return "install softhsm2 (scripts/bootstrap does), or set TILLIT_PKCS11_MODULE to your HSM's module"
    if "p11-kit-client" in name:
        return "install p11-kit-modules, which has p11-kit-client.so, or check the path in TILLIT_PKCS11_MODULE"
    return "check the path in TILLIT_PKCS11_MODULE: your HSM vendor's PKCS#11 library"


_lock = threading.Lock()
_loaded: dict[str, LoadedModule] = {}


def load_module(path: str) -> Any:
    """Load and initialise a PKCS#11 module once per process, with OS locking; python-pkcs11's `lib`."""
    with _lock:
        loaded = _loaded.get(path)
        if loaded is not None:
            return loaded.lib
        if not Path(path).is_file():
            raise ModuleMissing(f"PKCS#11 module not found: {path} ({_missing_hint(path)})")
        try:
            loaded = _thread_safe_lib(path)
        except (pkcs11.PKCS11Error, OSError) as e:
            raise ModuleMissing(f"cannot load PKCS#11 module {path}: {e}") from e
        _loaded[path] = loaded
        return loaded.lib


def loaded_module(path: str) -> LoadedModule:
    """The module at `path` (loaded and initialised first if it is not yet)."""
    load_module(path)
    return _loaded[path]


def init_token(path: str, slot_id: int, so_pin: str, label: str) -> None:
    """`C_InitToken`, which python-pkcs11 does not offer. The label is space-padded to 32 bytes."""
    encoded = label.encode()
    if len(encoded) > 32:
        raise HsmError("a token label is at most 32 bytes")
    pin = so_pin.encode()
    rv = loaded_module(path).functions.C_InitToken(slot_id, pin, len(pin), encoded.ljust(32, b" "))
    if rv != CKR_OK:
        raise HsmError(f"the module refused to initialise the token ({ckr_name(rv)})")


def softhsm_environment(conf: Path) -> None:
    """Point SoftHSM at our configuration before the module is loaded."""
    os.environ["SOFTHSM2_CONF"] = str(conf)


def reset_module(path: str) -> None:
    """`C_Finalize` then `C_Initialize` (OS locking): the module forgets every session and rescans its
    slots. SoftHSM only finds a token directory that came back (or a re-plugged token) this way; a
    remote module (p11-kit-client, a network HSM's library) connects to its server again. Every
    session of this process is gone afterwards, so the caller must make sure no other thread is
    inside the library (see `Hsm._recover`).

    Raises `TokenUnavailable` when `C_Initialize` fails (SoftHSM's token directory is gone, the
    server is down); the module is then uninitialised until a later reset succeeds. `C_Finalize`'s
    answer is ignored: after a failed initialisation it is CKR_CRYPTOKI_NOT_INITIALIZED, and a
    module whose server went away may refuse it too."""
    module = loaded_module(path)
    with _lock:
        module.initialised = False
        module.epoch += 1
        module.functions.C_Finalize(None)
        rv = _initialise(module.functions)
        if rv != CKR_OK:
            module.failure = f"the PKCS#11 module did not initialise again: {ckr_name(rv)}"
            raise TokenUnavailable(module.failure)
        module.initialised = True
        module.failure = ""


def close_all_sessions(path: str, slot_id: int) -> int:
    """`C_CloseAllSessions` on a slot, behind python-pkcs11's back (the test hook for a session
    closed under the daemon). Returns the CKR value."""
    return int(loaded_module(path).functions.C_CloseAllSessions(slot_id))


# ulMaxSessionCount and ulMaxRwSessionCount: no limit, or the module does not say.
CK_EFFECTIVELY_INFINITE = 0
CK_UNAVAILABLE_INFORMATION = 2 ** (8 * ctypes.sizeof(_CK_ULONG)) - 1


def session_limits(path: str, slot_id: int) -> tuple[int | None, int | None]:
    """The token's most sessions and most read-write sessions (`C_GetTokenInfo`, which python-pkcs11
    reads only in part); None for "no limit" or "not said"."""
    info = _CkTokenInfo()
    rv = loaded_module(path).functions.C_GetTokenInfo(slot_id, ctypes.byref(info))
    if rv != CKR_OK:
        raise TokenUnavailable(f"the token gave no information: {ckr_name(rv)}")

    def limit(value: int) -> int | None:
        return None if value in (CK_EFFECTIVELY_INFINITE, CK_UNAVAILABLE_INFORMATION) else int(value)

    return limit(info.ulMaxSessionCount), limit(info.ulMaxRwSessionCount)
