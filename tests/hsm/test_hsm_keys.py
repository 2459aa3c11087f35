"""Key generation in the token, what an administrator sees with `pkcs11-tool`, and that keys never leave.

The non-extractability checks use python-pkcs11 directly on a second session of the same token (the
module is already loaded in this process, with OS locking, by the `hsm` fixture).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pkcs11
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.util.ec import encode_named_curve_parameters

from tillit.hsm import errors
from tillit.hsm.client import Hsm
from tillit.hsm.connection import find_token
from tillit.hsm.keypairs import key_templates
from tillit.hsm.keys import Algorithm
from tillit.hsm.module import load_module
from tillit.hsm.settings import HsmSettings
from tillit.hsm.signing import verify_public

pytestmark = pytest.mark.hsm

PIN_VARIABLE = "HSM_TEST_USER_PIN"

# The secret parts of each key type: reading any of them must be refused.
SECRET_ATTRIBUTES = {
    KeyType.EC: [Attribute.VALUE],
    KeyType.RSA: [
        Attribute.PRIVATE_EXPONENT,
        Attribute.PRIME_1,
        Attribute.PRIME_2,
        Attribute.EXPONENT_1,
        Attribute.EXPONENT_2,
        Attribute.COEFFICIENT,
    ],
}


@pytest.fixture(scope="module")
def raw_session(hsm: Hsm, hsm_settings: HsmSettings) -> Iterator[Any]:
    """A plain python-pkcs11 session on the test token, beside the `Hsm`'s own sessions.

    Login is per process and the `hsm` fixture is logged in, so this session sees private objects
    without a PIN; closing it (no PIN given) does not log the other sessions out.
    """
    token = find_token(load_module(hsm_settings.module_path), hsm_settings)
    session = token.open(rw=True)
    yield session
    session.close()


@pytest.fixture(scope="module")
def wrapping_key(raw_session: Any) -> Any:
    """An AES-256 session key allowed to wrap (gone when the session closes)."""
    return raw_session.generate_key(
        KeyType.AES, 256, store=False, template={Attribute.WRAP: True, Attribute.TOKEN: False}
    )


def _private(session: Any, label: str) -> Any:
    return session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)


def _pkcs11_tool(settings: HsmSettings, env_for: Callable[..., dict[str, str]], *args: str) -> str:
    pin = settings.user_pin()
    argv = [
        "pkcs11-tool",
        "--module",
        settings.module_path,
        "--token-label",
        settings.token_label,
        "--login",
        "--pin",
        f"env:{PIN_VARIABLE}",
        *args,
    ]
    assert not any(pin in a for a in argv), "the PIN must never appear in argv"
    env = env_for(SOFTHSM2_CONF=str(settings.softhsm_conf), **{PIN_VARIABLE: pin})
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _objects(listing: str) -> dict[str, list[str]]:
    """pkcs11-tool's --list-objects output, as {label: lines of that object's block}."""
    blocks: list[list[str]] = []
    for line in listing.splitlines():
        if line and not line.startswith(" "):
            blocks.append([line])
        elif blocks:
            blocks[-1].append(line.strip())
    found = {}
    for block in blocks:
        labels = [line.split(":", 1)[1].strip() for line in block if line.startswith("label:")]
        if labels:
            found[labels[0]] = block
    return found


def _field(block: list[str], name: str) -> str:
    values = [line.split(":", 1)[1].strip() for line in block if line.startswith(f"{name}:")]
    assert len(values) == 1, f"{name} not found once in {block}"
    return values[0]


# -- what an administrator sees -----------------------------------------------------------------


def test_pkcs11_tool_shows_private_keys_sensitive_local_and_sign_only(
    hsm_settings: HsmSettings, hsm_keys: dict[Algorithm, str], subprocess_env: Callable[..., dict[str, str]]
) -> None:
    listing = _objects(_pkcs11_tool(hsm_settings, subprocess_env, "--list-objects", "--type", "privkey"))
    for algorithm, label in hsm_keys.items():
        assert label in listing, f"{label} not listed by pkcs11-tool:\n{listing}"
        block = listing[label]
        assert block[0].startswith("Private Key Object; " + ("EC" if algorithm.is_ec else "RSA"))
        assert _field(block, "Access") == "sensitive, always sensitive, never extractable, local"
        assert _field(block, "Usage") == "sign"


def test_pkcs11_tool_shows_public_keys_verify_only_with_the_right_size(
    hsm_settings: HsmSettings, hsm_keys: dict[Algorithm, str], subprocess_env: Callable[..., dict[str, str]]
) -> None:
    listing = _objects(_pkcs11_tool(hsm_settings, subprocess_env, "--list-objects", "--type", "pubkey"))
    expected = {
        Algorithm.EC_P256: "Public Key Object; EC  EC_POINT 256 bits",
        Algorithm.RSA_2048: "Public Key Object; RSA 2048 bits",
        Algorithm.RSA_3072: "Public Key Object; RSA 3072 bits",
    }
    for algorithm, label in hsm_keys.items():
        block = listing[label]
        assert block[0] == expected[algorithm]
        assert _field(block, "Usage") == "verify"


def test_key_info_reports_the_protection_flags(hsm: Hsm, hsm_keys: dict[Algorithm, str]) -> None:
    for algorithm, label in hsm_keys.items():
        info = hsm.key_info(label)
        assert info.algorithm is algorithm
        assert (info.sensitive, info.always_sensitive, info.local, info.can_sign) == (True, True, True, True)
        assert (info.extractable, info.never_extractable) == (False, True)
        assert len(bytes.fromhex(info.id_hex)) == 16
        public = hsm.public_key(label)
        if algorithm.is_ec:
            assert isinstance(public, ec.EllipticCurvePublicKey)
            assert public.curve.name == "secp256r1"
        else:
            assert isinstance(public, rsa.RSAPublicKey)
            assert public.key_size == algorithm.rsa_bits


def test_private_keys_have_sign_only_capabilities_on_the_token(
    raw_session: Any, hsm_keys: dict[Algorithm, str]
) -> None:
    for label in hsm_keys.values():
        attrs = _private(raw_session, label).get_attributes(
            [
                Attribute.TOKEN,
                Attribute.PRIVATE,
                Attribute.SIGN,
                Attribute.DECRYPT,
                Attribute.UNWRAP,
                Attribute.DERIVE,
            ]
        )
        assert attrs[Attribute.TOKEN] and attrs[Attribute.PRIVATE] and attrs[Attribute.SIGN]
        # (CKA_SIGN_RECOVER is left at SoftHSM's default, true; SoftHSM 2.6 has no C_SignRecover.)
        for capability in (Attribute.DECRYPT, Attribute.UNWRAP, Attribute.DERIVE):
            assert not attrs[capability], f"{label}: {capability.name} should be false"


# -- keys never leave the token -----------------------------------------------------------------


@pytest.mark.parametrize("algorithm", list(Algorithm), ids=str)
def test_reading_the_private_value_is_refused(
    raw_session: Any, hsm_keys: dict[Algorithm, str], algorithm: Algorithm
) -> None:
    private = _private(raw_session, hsm_keys[algorithm])
    for attribute in SECRET_ATTRIBUTES[private.key_type]:
        with pytest.raises(pkcs11.AttributeSensitive):
            private[attribute]
    # RSA private keys have no CKA_VALUE at all (their secret is the exponent and primes above);
    # either way the token must not hand anything back.
    with pytest.raises((pkcs11.AttributeSensitive, pkcs11.AttributeTypeInvalid)):
        private[Attribute.VALUE]


@pytest.mark.parametrize("algorithm", list(Algorithm), ids=str)
@pytest.mark.parametrize("mechanism", [Mechanism.AES_KEY_WRAP_PAD, Mechanism.AES_KEY_WRAP], ids=["aes-kwp", "aes-kw"])
def test_wrapping_the_private_key_is_refused(
    raw_session: Any,
    wrapping_key: Any,
    hsm_keys: dict[Algorithm, str],
    algorithm: Algorithm,
    mechanism: Mechanism,
) -> None:
    private = _private(raw_session, hsm_keys[algorithm])
    with pytest.raises(pkcs11.KeyUnextractable):
        wrapping_key.wrap_key(private, mechanism=mechanism)


def test_wrapping_key_does_wrap_an_extractable_key(raw_session: Any, wrapping_key: Any) -> None:
    """Control for the test above: the refusal comes from the key's attributes, not the mechanism."""
    _, extractable = raw_session.generate_keypair(
        KeyType.RSA,
        2048,
        store=False,
        private_template={Attribute.EXTRACTABLE: True, Attribute.SENSITIVE: False, Attribute.TOKEN: False},
    )
    assert len(wrapping_key.wrap_key(extractable, mechanism=Mechanism.AES_KEY_WRAP_PAD)) > 1000


@pytest.mark.parametrize(
    ("attribute", "value"),
    [(Attribute.EXTRACTABLE, True), (Attribute.SENSITIVE, False)],
    ids=["make-extractable", "make-insensitive"],
)
def test_the_protection_cannot_be_relaxed(
    raw_session: Any, hsm_keys: dict[Algorithm, str], attribute: Attribute, value: bool
) -> None:
    for label in hsm_keys.values():
        private = _private(raw_session, label)
        with pytest.raises(pkcs11.PKCS11Error):
            private[attribute] = value
        assert private[attribute] is not value


# -- the key-handle cache -----------------------------------------------------------------------


class _SearchCounter:
    """Wraps a real python-pkcs11 session and counts object searches; everything else passes through."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self.searches = 0

    def get_key(self, *args: Any, **kwargs: Any) -> Any:
        self.searches += 1
        return self._session.get_key(*args, **kwargs)

    def get_objects(self, *args: Any, **kwargs: Any) -> Any:
        self.searches += 1
        return self._session.get_objects(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def test_signing_looks_a_key_up_once_then_uses_the_cached_handle(
    hsm: Hsm, hsm_settings: HsmSettings, hsm_keys: dict[Algorithm, str]
) -> None:
    # A second Hsm in this process starts with an empty cache (login is shared per process).
    with Hsm(hsm_settings) as fresh:
        label = hsm_keys[Algorithm.EC_P256]
        assert label not in fresh._keys
        fresh._session = counter = _SearchCounter(fresh._session)
        fresh._admin = admin_counter = _SearchCounter(fresh._admin)
        fresh.sign(label, b"first")
        assert counter.searches == 1
        assert label in fresh._keys
        cached = fresh._keys[label]
        for i in range(50):
            fresh.sign(label, b"again %d" % i)
        assert (counter.searches, admin_counter.searches) == (1, 0)
        assert fresh._keys[label] is cached
        assert fresh.signatures == 51
        fresh._session, fresh._admin = counter._session, admin_counter._session
    # Closing the second Hsm did not log the fixture's connection out.
    assert hsm.sign(hsm_keys[Algorithm.EC_P256], b"still logged in")


# -- lifecycle and errors -----------------------------------------------------------------------


def test_generate_list_destroy(hsm: Hsm, new_label: Callable[[str], str]) -> None:
    label = new_label("lifecycle")
    info = hsm.generate_key(label, Algorithm.EC_P256)
    assert info.label == label
    assert label in [k.label for k in hsm.list_keys()]
    with pytest.raises(errors.KeyExists, match="already exists"):
        hsm.generate_key(label, Algorithm.RSA_2048)
    hsm.sign(label, b"cached now")
    hsm.destroy_key(label)
    assert label not in hsm._keys
    assert not hsm.has_key(label)
    assert label not in [k.label for k in hsm.list_keys()]
    with pytest.raises(errors.KeyNotFound, match=f"no private key labelled '{label}'"):
        hsm.sign(label, b"gone")
    with pytest.raises(errors.KeyNotFound, match="no public key"):
        hsm.public_key(label)
    with pytest.raises(errors.KeyNotFound):
        hsm.destroy_key(label)


def test_a_generation_cut_off_between_its_halves_leaves_no_second_public_key_in_the_way(
    hsm: Hsm, raw_session: Any, new_label: Callable[[str], str]
) -> None:
    """SoftHSM stores the public half first; a process killed before the private half leaves a
    public key alone under the label (what CI's kill -9 run once left of the audit key)."""
    label = new_label("cut-off")
    public_template, private_template = key_templates(label, b"orphan-id")
    params = raw_session.create_domain_parameters(
        KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True
    )
    _, private = params.generate_keypair(store=True, public_template=public_template, private_template=private_template)
    private.destroy()
    assert not hsm.has_key(label)

    hsm.generate_key(label, Algorithm.EC_P256)
    assert len(list(raw_session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: label}))) == 2
    public = hsm.public_key(label)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert verify_public(public, hsm.sign(label, b"the new pair"), b"the new pair")
    hsm.destroy_key(label)
    assert not list(raw_session.get_objects({Attribute.LABEL: label}))


@pytest.mark.parametrize("bad", ["", "x" * 129])
def test_generate_rejects_bad_labels(hsm: Hsm, bad: str) -> None:
    with pytest.raises(errors.HsmError, match="1 to 128 characters"):
        hsm.generate_key(bad)


def test_unknown_key_errors_name_the_label(hsm: Hsm) -> None:
    with pytest.raises(errors.KeyNotFound, match="no private key labelled 'nope-no-such-key'"):
        hsm.key_info("nope-no-such-key")
    with pytest.raises(errors.KeyNotFound, match="no private key labelled 'nope-no-such-key'"):
        hsm.sign("nope-no-such-key", b"data")
    assert hsm.certificate("nope-no-such-key") is None


def test_a_key_barred_from_signing_is_refused_with_a_clear_message(hsm: Hsm, new_label: Callable[[str], str]) -> None:
    label = new_label("barred")
    hsm.generate_key(label)
    try:
        hsm.set_signing_allowed(label, False)
        with pytest.raises(errors.SigningError, match=f"key '{label}' may not sign"):
            hsm.sign(label, b"data")
        hsm.set_signing_allowed(label, True)
        assert hsm.sign(label, b"data")
    finally:
        hsm.destroy_key(label)


def test_a_cached_key_barred_elsewhere_is_refused_with_a_clear_message(
    hsm: Hsm, raw_session: Any, new_label: Callable[[str], str]
) -> None:
    """CKA_SIGN turned off behind the cache's back (another session): the token's refusal is translated."""
    label = new_label("barred-behind")
    hsm.generate_key(label)
    try:
        assert hsm.sign(label, b"cached")
        _private(raw_session, label)[Attribute.SIGN] = False
        with pytest.raises(errors.SigningError, match=f"key '{label}' may not sign"):
            hsm.sign(label, b"data")
    finally:
        hsm.destroy_key(label)


def test_a_digest_of_the_wrong_length_is_refused(hsm: Hsm, hsm_keys: dict[Algorithm, str]) -> None:
    with pytest.raises(errors.SigningError, match="expected a SHA-256 digest"):
        hsm.sign_digest(hsm_keys[Algorithm.EC_P256], b"short")


# Key generation while other processes use the same token, as signers and admin commands sharing
# a home do. SoftHSM's file store is not safe for that: a key generated while other processes read
# the token's keys can lose its label, id and sensitivity on disk, even when the process that made
# it still reads it whole (so no check of its own can tell). Tillit's processes therefore take a
# lock among themselves (hsm/store_lock.py); without it, every run of this test loses keys. All of
# it runs in processes of their own on a token of their own: SoftHSM reads its configuration once
# per process, and the session token's many keys would slow the reads that make the race.
CONTENDED_GENERATIONS = 60
CONTENDING_PROCESSES = 4

# Until the file named by argv[1] exists (then it ends by itself, as a process of a signer would
# not be killed in the middle of a write either): lists the token's keys, reading each one's
# attributes, over and over.
_OTHER_PROCESS = """
import os, sys
from tillit.hsm.client import open_hsm
from tillit.hsm.errors import HsmError

with open_hsm() as hsm:
    print("ready", flush=True)
    while not os.path.exists(sys.argv[1]):
        try:
            hsm.list_keys()
        except HsmError:
            pass  # a key destroyed meanwhile (a generation tried again): this process only reads
"""

# Makes argv[1] key pairs, however long that takes on a loaded machine, and looks each one up as it
# is returned; prints, as JSON, how many were made and every failure.
_GENERATE = """
import json, sys
from tillit.hsm.client import open_hsm
from tillit.hsm.errors import HsmError

made, failed = 0, []
with open_hsm() as hsm:
    while made + len(failed) < int(sys.argv[1]):
        label = f"contended-{made + len(failed)}"
        try:
            hsm.generate_key(label)
            hsm.public_key(label)
            made += 1
        except HsmError as e:
            failed.append(str(e))
print(json.dumps({"made": made, "failed": failed[:20], "failures": len(failed)}))
"""


def test_generations_while_other_processes_use_the_token_each_make_one_whole_pair(
    tmp_path: Path,
    tillit_hsm: Callable[..., subprocess.CompletedProcess[str]],
    check_ok: Callable[[subprocess.CompletedProcess[str]], subprocess.CompletedProcess[str]],
    subprocess_env: Callable[..., dict[str, str]],
) -> None:
    home = tmp_path / "home"
    check_ok(tillit_hsm("init", home=home))
    env = subprocess_env(TILLIT_HOME=str(home))
    stop = tmp_path / "stop"
    others = [
        subprocess.Popen(
            [sys.executable, "-c", _OTHER_PROCESS, str(stop)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(CONTENDING_PROCESSES)
    ]
    try:
        for other in others:
            assert other.stdout is not None and other.stdout.readline().strip() == "ready"
        generator = subprocess.run(
            [sys.executable, "-c", _GENERATE, str(CONTENDED_GENERATIONS)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        stop.touch()
        for other in others:
            try:
                other.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                other.kill()
                other.communicate()
    assert generator.returncode == 0, generator.stderr[-3000:]
    outcome = json.loads(generator.stdout)
    assert outcome == {"made": CONTENDED_GENERATIONS, "failed": [], "failures": 0}, outcome
    # Read afresh by another process, every key is there, with its label (`keys list` leaves out
    # private keys without one: what a lost write leaves).
    listed = check_ok(tillit_hsm("keys", "list", home=home)).stdout
    missing = [f"contended-{n}" for n in range(CONTENDED_GENERATIONS) if f"contended-{n} " not in listed]
    assert not missing, listed
