"""Preparing a token: SoftHSM's configuration in TILLIT_HOME, then C_InitToken and the user PIN."""

from __future__ import annotations

from typing import Any

import pkcs11
from pkcs11 import TokenFlag

from tillit.hsm import errors
from tillit.hsm.module import init_token, load_module, softhsm_environment
from tillit.hsm.settings import HsmSettings, private_dir


def write_softhsm_conf(settings: HsmSettings) -> None:
    tokens = private_dir(settings.home / "tokens")
    settings.softhsm_conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
    )


def initialise_token(settings: HsmSettings, slot_id: int | None = None) -> str:
    """Initialise a token labelled `settings.token_label` and set its user PIN; return its serial.

    With SoftHSM the configuration and token directory are created in TILLIT_HOME. With another
    module, the first slot holding an uninitialised token is used unless `slot_id` says otherwise.
    """
    private_dir(settings.home)
    if settings.uses_softhsm:
        if not settings.softhsm_conf.exists():
            write_softhsm_conf(settings)
        softhsm_environment(settings.softhsm_conf)
    lib = load_module(settings.module_path)
    try:
        for token in lib.get_tokens():
            if token.label == settings.token_label:
                # Before any PIN file is written: on a machine using a token made elsewhere, a new
                # random PIN file would only be a wrong PIN at every start.
                raise errors.TokenAlreadyInitialised(
                    f"a token labelled '{settings.token_label}' already exists (serial {_serial(token)}); to use it"
                    " from this home, set TILLIT_HSM_PIN to its user PIN"
                )
        slot = _free_slot(lib, slot_id)
        settings.ensure_pin_files()
        init_token(settings.module_path, slot.slot_id, settings.so_pin(), settings.token_label)
        token = lib.get_token(token_label=settings.token_label)
        with token.open(rw=True, so_pin=settings.so_pin()) as session:
            session.init_pin(settings.user_pin())
        return _serial(token)
    except pkcs11.PKCS11Error as e:
        raise errors.HsmError(f"token initialisation failed: {type(e).__name__}") from e


def _free_slot(lib: Any, slot_id: int | None) -> Any:
    for slot in lib.get_slots(token_present=True):
        if slot_id is not None and slot.slot_id != slot_id:
            continue
        if not slot.get_token().flags & TokenFlag.TOKEN_INITIALIZED:
            return slot
    where = f"slot {slot_id}" if slot_id is not None else "any slot"
    raise errors.TokenNotFound(f"no uninitialised token in {where}")


def _serial(token: Any) -> str:
    serial = token.serial
    return serial.decode().strip() if isinstance(serial, bytes) else str(serial)
