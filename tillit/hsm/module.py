"""Loading a PKCS#11 module so that several threads may use it at once.

python-pkcs11 calls `C_Initialize(NULL)`. With a NULL argument SoftHSM assumes a single-threaded
application and switches its own locking off; two threads in the library then crash the process
(double free, SIGSEGV, or a hang in `C_SignInit`). We therefore call `C_Initialize` ourselves with
`CKF_OS_LOCKING_OK` through the module's function list and stop python-pkcs11 from calling it again.
The few calls python-pkcs11 lacks (`C_InitToken`) go through the same function list.
"""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path
from typing import Any

import pkcs11
from pkcs11 import _pkcs11

from tillit.hsm.errors import HsmError, ModuleMissing

CKF_OS_LOCKING_OK = 0x00000002
CKR_OK = 0x0
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


_FN = ctypes.CFUNCTYPE
# The head of CK_FUNCTION_LIST, in the order PKCS#11 v2.40 section 5.1 fixes; we need the first fifteen.
_FUNCTION_LIST_HEAD = (
    ("C_Initialize", _FN(_CK_RV, ctypes.c_void_p)),
    ("C_Finalize", _FN(_CK_RV, ctypes.c_void_p)),
    ("C_GetInfo", ctypes.c_void_p),
    ("C_GetFunctionList", ctypes.c_void_p),
    ("C_GetSlotList", ctypes.c_void_p),
    ("C_GetSlotInfo", ctypes.c_void_p),
    ("C_GetTokenInfo", ctypes.c_void_p),
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


def _thread_safe_lib(path: str) -> Any:
    """python-pkcs11's `lib` for the module at `path`, initialised by us with OS locking.

    `lib.__new__` loads the module and reads its function list; its `__init__`, which would call
    `C_Initialize(NULL)`, is never run: `C_Initialize` with OS locking takes its place. The object
    is a plain `lib`, no subclass: python-pkcs11's `__dealloc__` looks `unload` up by name, which on
    a Python subclass fails once interpreter shutdown has cleared the subclass (an
    `AttributeError: ... has no attribute 'unload'` at exit). Left out by skipping `__init__`:
    `lib.so` and the informational manufacturer, description and versions."""
    lib = _pkcs11.lib.__new__(_pkcs11.lib, path)  # type: ignore[call-arg]  # Cython: __cinit__'s arguments
    rv = _function_list(path).C_Initialize(
        ctypes.cast(ctypes.pointer(_CkInitializeArgs(flags=CKF_OS_LOCKING_OK)), ctypes.c_void_p)
    )
    if rv not in (CKR_OK, CKR_CRYPTOKI_ALREADY_INITIALIZED):
        raise HsmError(f"the PKCS#11 module refused to initialise (CKR 0x{rv:x})")
    return lib


_lock = threading.Lock()
_loaded: dict[str, Any] = {}
_function_lists: dict[str, Any] = {}


def _function_list(path: str) -> Any:
    fl = _function_lists.get(path)
    if fl is None:
        library = ctypes.CDLL(path)
        pointer = ctypes.POINTER(_CkFunctionList)()
        rv = library.C_GetFunctionList(ctypes.byref(pointer))
        if rv != CKR_OK:
            raise ModuleMissing(f"{path} is not a PKCS#11 module (C_GetFunctionList: 0x{rv:x})")
        fl = _function_lists[path] = pointer.contents
        fl._library = library  # keep the handle alive as long as the function list
    return fl


def load_module(path: str) -> Any:
    """Load and initialise a PKCS#11 module once per process, with OS locking."""
    with _lock:
        lib = _loaded.get(path)
        if lib is not None:
            return lib
        if not Path(path).is_file():
            raise ModuleMissing(f"PKCS#11 module not found: {path} (install softhsm2, or set TILLIT_PKCS11_MODULE)")
        try:
            lib = _thread_safe_lib(path)
        except pkcs11.PKCS11Error as e:
            raise ModuleMissing(f"cannot load PKCS#11 module {path}: {e}") from e
        except OSError as e:
            raise ModuleMissing(f"cannot load PKCS#11 module {path}: {e}") from e
        _loaded[path] = lib
        return lib


def init_token(path: str, slot_id: int, so_pin: str, label: str) -> None:
    """`C_InitToken`, which python-pkcs11 does not offer. The label is space-padded to 32 bytes."""
    encoded = label.encode()
    if len(encoded) > 32:
        raise HsmError("a token label is at most 32 bytes")
    pin = so_pin.encode()
    rv = _function_list(path).C_InitToken(slot_id, pin, len(pin), encoded.ljust(32, b" "))
    if rv != CKR_OK:
        raise HsmError(f"the module refused to initialise the token (CKR 0x{rv:x})")


def softhsm_environment(conf: Path) -> None:
    """Point SoftHSM at our configuration before the module is loaded."""
    os.environ["SOFTHSM2_CONF"] = str(conf)


def reset_module(path: str) -> None:
    """`C_Finalize` then `C_Initialize` (OS locking): the module forgets every session and rescans its
    slots. SoftHSM only finds a token directory that came back (or a re-plugged token) this way; a
    network HSM's client library reconnects. Every session of this process is gone afterwards, so
    the caller must make sure no other thread is inside the library (see `Hsm._reset`)."""
    with _lock:
        functions = _function_list(path)
        functions.C_Finalize(None)
        rv = functions.C_Initialize(
            ctypes.cast(ctypes.pointer(_CkInitializeArgs(flags=CKF_OS_LOCKING_OK)), ctypes.c_void_p)
        )
        if rv not in (CKR_OK, CKR_CRYPTOKI_ALREADY_INITIALIZED):
            raise HsmError(f"the PKCS#11 module refused to initialise again (CKR 0x{rv:x})")


def close_all_sessions(path: str, slot_id: int) -> int:
    """`C_CloseAllSessions` on a slot, behind python-pkcs11's back (the test hook for a session
    closed under the daemon). Returns the CKR value."""
    return int(_function_list(path).C_CloseAllSessions(slot_id))
