"""Shared fixtures: one throwaway SoftHSM token per test session, in a temporary TILLIT_HOME.

The PKCS#11 module reads SOFTHSM2_CONF once per process, so every in-process HSM test of a session
shares this one home; daemons started by integration tests get homes of their own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hsm.ca import CertificateAuthority
from hsm.client import Hsm
from hsm.provision import initialise_token
from hsm.settings import HsmSettings
from tests.daemon import Daemon, make_daemon

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def hsm_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HsmSettings]:
    home = tmp_path_factory.mktemp("tillit-home")
    old = os.environ.get("TILLIT_HOME")
    os.environ["TILLIT_HOME"] = str(home)
    settings = HsmSettings(home=home)
    initialise_token(settings)
    yield settings
    if old is None:
        os.environ.pop("TILLIT_HOME", None)
    else:
        os.environ["TILLIT_HOME"] = old


@pytest.fixture(scope="session")
def hsm(hsm_settings: HsmSettings) -> Iterator[Hsm]:
    with Hsm(hsm_settings) as connection:
        yield connection


@pytest.fixture(scope="session")
def ca(hsm: Hsm) -> CertificateAuthority:
    authority = CertificateAuthority.for_home(hsm)
    if not authority.initialised:
        authority.init()
    return authority


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A running signer (uvicorn on 127.0.0.1) with its own home, token, CA and one kiosk."""
    d = make_daemon(tmp_path_factory.mktemp("daemon") / "home")
    d.start()
    yield d
    d.stop()
