"""The HSM layer through a module other than SoftHSM: SoftHSM's token served by a real `p11-kit server`
on a unix socket and used through p11-kit-client.so, which hands out a new function list (one
connection to the server) on every `C_GetFunctionList`. Tillit must initialise the very list
python-pkcs11 calls through; it used to initialise a second one, and loading failed with
"Initialisation error (not initialized)".

This process loads p11-kit-client.so once, with the server address of this module's fixture.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.proofs.p11kit import CLIENT_MODULE, P11KitServer, require_p11_kit
from tillit.hsm import errors, module
from tillit.hsm.client import Hsm
from tillit.hsm.keys import Algorithm
from tillit.hsm.settings import SOFTHSM_MODULE, HsmSettings
from tillit.hsm.signing import verify_public

pytestmark = pytest.mark.hsm

THREADS = 4
SECONDS = 2.0
LABEL = "remote-signing-key"


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, tillit_hsm: Callable[..., Any], check_ok: Callable[..., Any]
) -> Iterator[P11KitServer]:
    require_p11_kit()
    home = tmp_path_factory.mktemp("remote") / "home"
    check_ok(tillit_hsm("init", home=home))
    served = P11KitServer(tmp_path_factory.mktemp("p11") / "hsm.sock", home / "softhsm2.conf")
    served.start()
    previous = os.environ.get("P11_KIT_SERVER_ADDRESS")
    os.environ["P11_KIT_SERVER_ADDRESS"] = served.address  # read when the client module is loaded
    try:
        yield served
    finally:
        served.kill()
        if previous is None:
            os.environ.pop("P11_KIT_SERVER_ADDRESS", None)
        else:
            os.environ["P11_KIT_SERVER_ADDRESS"] = previous


@pytest.fixture(scope="module")
def remote_settings(server: P11KitServer) -> HsmSettings:
    return HsmSettings(home=server.softhsm_conf.parent, pkcs11_module=CLIENT_MODULE)


@pytest.fixture(scope="module")
def remote(remote_settings: HsmSettings) -> Iterator[Hsm]:
    with Hsm(remote_settings) as hsm:
        if not hsm.has_key(LABEL):
            hsm.generate_key(LABEL, Algorithm.EC_P256)
        yield hsm


def _function_list_address(path: str) -> int:
    """What a fresh `C_GetFunctionList` of the module returns."""
    pointer = ctypes.c_void_p()
    assert ctypes.CDLL(path).C_GetFunctionList(ctypes.byref(pointer)) == 0
    assert pointer.value is not None
    return pointer.value


def test_the_list_initialised_is_the_one_python_pkcs11_calls(server: P11KitServer, hsm: Hsm) -> None:
    # SoftHSM has one static list: the one read out of python-pkcs11's `lib` must be that one.
    softhsm = module.loaded_module(SOFTHSM_MODULE)
    assert ctypes.addressof(softhsm.functions) == _function_list_address(SOFTHSM_MODULE)
    # p11-kit-client makes a new list per call, so a list of our own would not be python-pkcs11's...
    assert _function_list_address(CLIENT_MODULE) != _function_list_address(CLIENT_MODULE)
    # ...and python-pkcs11's own calls through its list work: it is initialised (with OS locking).
    lib = module.load_module(CLIENT_MODULE)
    assert module.loaded_module(CLIENT_MODULE).initialised
    assert [slot.get_token().label for slot in lib.get_slots(token_present=True)] == ["tillit"]


def test_threads_sign_through_the_remote_module(remote: Hsm) -> None:
    public = remote.public_key(LABEL)
    counts = [0] * THREADS
    failures: list[str] = []
    start = threading.Barrier(THREADS)

    def worker(n: int) -> None:
        start.wait()
        deadline = time.monotonic() + SECONDS
        try:
            while time.monotonic() < deadline:
                data = f"thread {n} message {counts[n]}".encode()
                if not verify_public(public, remote.sign(LABEL, data), data):
                    raise AssertionError(f"bad signature on {data!r}")
                counts[n] += 1
        except Exception as e:  # reported by the assertion below
            failures.append(f"thread {n}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=SECONDS + 60)
        assert not t.is_alive(), "a signing thread hangs in the remote module"
    assert failures == []
    assert all(c > 10 for c in counts), counts
    print(f"\nremote module: {sum(counts) / SECONDS:.0f} verified signatures/s in {THREADS} threads")


def test_pkcs11_tool_lists_the_keys_through_the_remote_module(server: P11KitServer, remote: Hsm) -> None:
    pin = (server.softhsm_conf.parent / "hsm-pin").read_text().strip()
    # The PIN through the environment (pkcs11-tool's `env:`), never on a command line.
    result = subprocess.run(
        ["pkcs11-tool", "--module", CLIENT_MODULE, "--token-label", "tillit", "--login", "--pin", "env:PIN", "-O"],
        env={**os.environ, "P11_KIT_SERVER_ADDRESS": server.address, "PIN": pin},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"label:      {LABEL}" in result.stdout
    assert "Private Key Object; EC" in result.stdout


def test_the_server_killed_and_restarted(server: P11KitServer, remote: Hsm) -> None:
    """Every call fails with TokenUnavailable at once while the server is down (no hang, no other
    error); the first call after it is back recovers (a module reset reconnects)."""
    public = remote.public_key(LABEL)
    server.kill()
    started = time.monotonic()
    for _ in range(3):
        with pytest.raises(errors.TokenUnavailable):
            remote.sign(LABEL, b"while the server is down")
    assert time.monotonic() - started < 1.0
    time.sleep(1.1)  # past the reset interval: the next recovery resets the module, and fails
    with pytest.raises(errors.TokenUnavailable, match=r"not answering|not present"):
        remote.ping()
    assert remote.resets >= 1  # p11-kit-client initialises without its server; it connects on use
    server.start()
    back = time.monotonic()
    while True:
        try:
            signature = remote.sign(LABEL, b"after the server came back")
            break
        except errors.TokenUnavailable:
            assert time.monotonic() - back < 5.0, "the module did not come back"
            time.sleep(0.1)
    assert verify_public(public, signature, b"after the server came back")
    assert module.loaded_module(CLIENT_MODULE).initialised
    print(f"\nserver back: signing again after {time.monotonic() - back:.2f} s")


def test_no_server_is_one_line_naming_the_address(
    server: P11KitServer, tmp_path: Path, tillit_hsm: Callable[..., Any]
) -> None:
    """p11-kit-client without its server shows no token at all: the line says where to look."""
    home = server.softhsm_conf.parent
    env = {"TILLIT_PKCS11_MODULE": CLIENT_MODULE, "P11_KIT_SERVER_ADDRESS": f"unix:path={tmp_path}/none.sock"}
    result = tillit_hsm("status", home=home, env=env)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith(f"tillit-hsm: token 'tillit' not found on {CLIENT_MODULE}"), result.stderr
    assert "P11_KIT_SERVER_ADDRESS" in result.stderr
