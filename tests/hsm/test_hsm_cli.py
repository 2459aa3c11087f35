"""`tillit-hsm`, run as an administrator would: a subprocess with its own TILLIT_HOME and token.

SoftHSM reads SOFTHSM2_CONF once per process, so everything touching the CLI's token from Python
(the code-device check) also runs in a subprocess.
"""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tillit.hsm.settings import SOFTHSM_MODULE, HsmSettings

pytestmark = pytest.mark.hsm

ROOT = Path(__file__).resolve().parents[2]

Result = subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def home(
    tmp_path_factory: pytest.TempPathFactory, tillit_hsm: Callable[..., Result], check_ok: Callable[..., Result]
) -> Path:
    """A fresh TILLIT_HOME with a token initialised by `tillit-hsm init` and a CA by `ca init`."""
    where = tmp_path_factory.mktemp("cli-home")
    out = check_ok(tillit_hsm("init", home=where)).stdout
    assert re.fullmatch(rf"token 'tillit' initialised \(serial [0-9a-f]+\) in {re.escape(str(where))}\n", out)
    out = check_ok(tillit_hsm("ca", "init", home=where)).stdout
    assert out == "CA initialised: Common Name: Tillit Issuing CA, Organization: Tillit, Country: NO\n"
    return where


def _json(result: Result) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _fails(result: Result, message: str) -> None:
    """An administrator's error: non-zero exit, one line on stderr naming the problem, no traceback."""
    assert result.returncode != 0
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tillit-hsm: ")
    assert message in lines[0]


# -- init and PINs ------------------------------------------------------------------------------


def test_init_writes_private_pin_files(home: Path) -> None:
    for name in ("hsm-pin", "hsm-so-pin"):
        path = home / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
        assert re.fullmatch(r"\d{8}\n", path.read_text())
    assert (home / "hsm-pin").read_text() != (home / "hsm-so-pin").read_text()
    conf = (home / "softhsm2.conf").read_text()
    assert f"directories.tokendir = {home / 'tokens'}" in conf


def test_the_session_token_pin_files_are_private_too(hsm_settings: HsmSettings) -> None:
    for name in ("hsm-pin", "hsm-so-pin"):
        assert stat.S_IMODE((hsm_settings.home / name).stat().st_mode) == 0o600


def test_init_twice_is_refused(home: Path, tillit_hsm: Callable[..., Result]) -> None:
    _fails(tillit_hsm("init", home=home), "a token labelled 'tillit' already exists")


def test_a_machine_using_a_token_made_elsewhere_is_told_which_pin(
    home: Path, tmp_path: Path, tillit_hsm: Callable[..., Result]
) -> None:
    """An operator probe: an instance machine without TILLIT_HSM_PIN was told to run `tillit-hsm init`,
    which failed on the existing token after writing a random hsm-pin, and every start then said only
    "wrong PIN". Now init refuses before writing anything and says which PIN, and so do the others."""
    machine = tmp_path / "machine-b"
    remote = {"TILLIT_PKCS11_MODULE": SOFTHSM_MODULE, "SOFTHSM2_CONF": str(home / "softhsm2.conf")}
    made_elsewhere = tillit_hsm("init", home=machine, env=remote)
    _fails(made_elsewhere, "; to use it from this home, set TILLIT_HSM_PIN to its user PIN")
    assert not (machine / "hsm-pin").exists() and not (machine / "hsm-so-pin").exists()
    _fails(
        tillit_hsm("status", home=machine, env=remote),
        "no PIN: set TILLIT_HSM_PIN (for a token made elsewhere, the PIN `tillit-hsm init` wrote to hsm-pin there)",
    )
    _fails(
        tillit_hsm("status", home=machine, env={**remote, "TILLIT_HSM_PIN": "0000"}),
        "wrong PIN for token 'tillit' (from TILLIT_HSM_PIN)",
    )


def test_pins_from_the_environment(
    tmp_path: Path, tillit_hsm: Callable[..., Result], check_ok: Callable[..., Result]
) -> None:
    pins = {"TILLIT_HSM_PIN": "24681357", "TILLIT_HSM_SO_PIN": "97531864"}
    check_ok(tillit_hsm("init", home=tmp_path, env=pins))
    assert not (tmp_path / "hsm-pin").exists() and not (tmp_path / "hsm-so-pin").exists()
    assert _json(tillit_hsm("status", "--json", home=tmp_path, env=pins))["keys"] == 0
    _fails(tillit_hsm("status", home=tmp_path), "no PIN: set TILLIT_HSM_PIN")


# -- status and keys ----------------------------------------------------------------------------


def test_status_json(home: Path, tillit_hsm: Callable[..., Result]) -> None:
    status = _json(tillit_hsm("status", "--json", home=home))
    assert status["label"] == "tillit"
    assert status["module"] == "/usr/lib/softhsm/libsofthsm2.so"
    assert status["manufacturer"] == "SoftHSM project"
    assert status["ca_initialised"] is True
    assert status["keys"] >= 3  # root, issuing, OCSP
    assert re.fullmatch(r"[0-9a-f]{16}", status["serial"])


def test_status_text(home: Path, tillit_hsm: Callable[..., Result], check_ok: Callable[..., Result]) -> None:
    out = check_ok(tillit_hsm("status", home=home)).stdout
    assert re.search(r"^label\s+tillit$", out, re.MULTILINE)


def test_keys_generate_list_show_destroy(
    home: Path, tillit_hsm: Callable[..., Result], check_ok: Callable[..., Result]
) -> None:
    generated = _json(tillit_hsm("keys", "generate", "--label", "x", "--algorithm", "rsa-2048", "--json", home=home))
    assert generated["label"] == "x" and generated["algorithm"] == "rsa-2048"
    assert generated["sensitive"] and generated["never_extractable"] and not generated["extractable"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated["id"])

    listed = {k["label"]: k for k in _json(tillit_hsm("keys", "list", "--json", home=home))}
    assert {"x", "tillit-root-ca", "tillit-issuing-ca", "tillit-ocsp"} <= listed.keys()
    assert listed["x"] == generated

    shown = _json(tillit_hsm("keys", "show", "x", "--json", home=home))
    assert shown.pop("public_key_pem").startswith("-----BEGIN PUBLIC KEY-----\n")
    assert shown == generated

    _fails(tillit_hsm("keys", "generate", "--label", "x", home=home), "a key labelled 'x' already exists")
    _fails(tillit_hsm("keys", "destroy", "x", home=home), "add --yes")
    assert "x" in {k["label"] for k in _json(tillit_hsm("keys", "list", "--json", home=home))}

    assert check_ok(tillit_hsm("keys", "destroy", "x", "--yes", home=home)).stdout == "destroyed key 'x'\n"
    assert "x" not in {k["label"] for k in _json(tillit_hsm("keys", "list", "--json", home=home))}
    _fails(tillit_hsm("keys", "show", "x", home=home), "no private key labelled 'x'")


def test_keys_generate_defaults_to_ec_p256(
    home: Path, tillit_hsm: Callable[..., Result], check_ok: Callable[..., Result]
) -> None:
    out = check_ok(tillit_hsm("keys", "generate", "--label", "default-alg", home=home)).stdout
    assert re.fullmatch(r"generated ec-p256 key 'default-alg' id [0-9a-f]{32}\n", out)
    out = check_ok(tillit_hsm("keys", "list", home=home)).stdout
    assert re.search(r"^default-alg\s+ec-p256\s+id [0-9a-f]{32}$", out, re.MULTILINE)


TILLIT_KEYS = ["tillit-root-ca", "tillit-issuing-ca", "tillit-ocsp", "tillit-tsa", "tillit-audit", "customer:c1:2"]


@pytest.mark.parametrize("label", TILLIT_KEYS)
def test_keys_tillit_depends_on_are_not_destroyed_nor_made_by_hand(
    home: Path, tillit_hsm: Callable[..., Result], label: str
) -> None:
    before = _json(tillit_hsm("keys", "list", "--json", home=home))
    _fails(tillit_hsm("keys", "destroy", label, "--yes", home=home), "Tillit depends on it, so it is not destroyed")
    _fails(tillit_hsm("keys", "generate", "--label", label, home=home), "is a label Tillit uses for")
    assert _json(tillit_hsm("keys", "list", "--json", home=home)) == before
    assert _json(tillit_hsm("status", "--json", home=home))["ca_initialised"] is True


def test_the_labels_kept_from_keys_destroy_are_the_signers() -> None:
    """hsm cannot import the signer, so its list of the signer's labels is a copy: held to them here."""
    import tillit.hsm.cli as hsm_cli
    from tillit.signer.audit.anchor import ANCHOR_LABEL
    from tillit.signer.audit.chain import AUDIT_KEY_LABEL
    from tillit.signer.seals import SEAL_KEY_LABEL
    from tillit.signer.tokens import SERVICE_KEY_LABEL

    for label in (SERVICE_KEY_LABEL, AUDIT_KEY_LABEL, ANCHOR_LABEL, SEAL_KEY_LABEL):
        assert label in hsm_cli.TILLIT_LABELS


def test_keys_generate_rejects_unknown_algorithms(home: Path, tillit_hsm: Callable[..., Result]) -> None:
    result = tillit_hsm("keys", "generate", "--label", "y", "--algorithm", "dsa-1024", home=home)
    assert result.returncode == 2  # click's usage error
    assert "Traceback" not in result.stderr


# -- CA -----------------------------------------------------------------------------------------


def test_ca_show_prints_a_chain_openssl_accepts(
    home: Path,
    tmp_path: Path,
    tillit_hsm: Callable[..., Result],
    check_ok: Callable[..., Result],
    openssl: Callable[..., Result],
) -> None:
    chain = check_ok(tillit_hsm("ca", "show", home=home)).stdout
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----\n", chain, re.DOTALL)
    assert len(blocks) == 2 and "".join(blocks) == chain
    issuing, root = tmp_path / "issuing.pem", tmp_path / "root.pem"
    issuing.write_text(blocks[0])
    root.write_text(blocks[1])
    result = openssl("verify", "-x509_strict", "-CAfile", root, issuing)
    assert result.returncode == 0, result.stdout + result.stderr
    subject = openssl("x509", "-in", issuing, "-noout", "-subject").stdout
    assert subject.strip() == "subject=C = NO, O = Tillit, CN = Tillit Issuing CA"


def test_ca_crl_pem_and_der(
    home: Path,
    tmp_path: Path,
    tillit_hsm: Callable[..., Result],
    check_ok: Callable[..., Result],
    openssl: Callable[..., Result],
) -> None:
    chain = tmp_path / "chain.pem"
    chain.write_text(check_ok(tillit_hsm("ca", "show", home=home)).stdout)
    crl_pem = check_ok(tillit_hsm("ca", "crl", home=home)).stdout
    assert crl_pem.startswith("-----BEGIN X509 CRL-----\n")
    (tmp_path / "crl.pem").write_text(crl_pem)
    result = openssl("crl", "-in", tmp_path / "crl.pem", "-CAfile", chain, "-noout")
    assert result.returncode == 0 and "verify OK" in result.stderr, result.stderr

    check_ok(tillit_hsm("ca", "crl", "--der", "--out", tmp_path / "crl.der", home=home))
    result = openssl("crl", "-inform", "DER", "-in", tmp_path / "crl.der", "-CAfile", chain, "-noout")
    assert result.returncode == 0 and "verify OK" in result.stderr, result.stderr


def test_ca_init_twice_is_refused(home: Path, tillit_hsm: Callable[..., Result]) -> None:
    _fails(tillit_hsm("ca", "init", home=home), "the CA is already initialised")


@pytest.mark.parametrize(
    ("organisation", "message"),
    [("", "the organisation is blank"), ("  ", "the organisation is blank"), (" Bank", "blanks around it"),
     ("B" * 54, "longer than 53 characters")],
    ids=["empty", "blank", "padded", "long"],
)  # fmt: skip
def test_ca_init_refuses_an_organisation_that_cannot_name_the_cas(
    tmp_path: Path,
    tillit_hsm: Callable[..., Result],
    check_ok: Callable[..., Result],
    organisation: str,
    message: str,
) -> None:
    check_ok(tillit_hsm("init", home=tmp_path))
    _fails(tillit_hsm("ca", "init", "--organisation", organisation, home=tmp_path), message)
    status = _json(tillit_hsm("status", "--json", home=tmp_path))
    assert status["keys"] == 0 and status["ca_initialised"] is False  # nothing made


def test_ca_commands_before_ca_init(
    tmp_path: Path, tillit_hsm: Callable[..., Result], check_ok: Callable[..., Result]
) -> None:
    check_ok(tillit_hsm("init", home=tmp_path))
    assert _json(tillit_hsm("status", "--json", home=tmp_path))["ca_initialised"] is False
    _fails(tillit_hsm("ca", "show", home=tmp_path), "run `tillit-hsm ca init`")
    _fails(tillit_hsm("ca", "crl", home=tmp_path), "run `tillit-hsm ca init`")


# -- code devices -------------------------------------------------------------------------------

_HSM_CODES = """
import json, sys
from pathlib import Path
from tillit.hsm.client import Hsm
from tillit.hsm.otp import CodeDeviceFile, counter_at, hsm_code
from tillit.hsm.settings import HsmSettings

device = CodeDeviceFile.load(Path(sys.argv[1]))
with Hsm(HsmSettings()) as hsm:
    now = counter_at()
    counters = range(now - 2, now + 2)
    print(json.dumps({
        "hsm": [hsm_code(hsm, device.serial, c) for c in counters],
        "file": [device.code(at=c * 30) for c in counters],
    }))
"""


def test_codedevice_issue_and_show_match_the_token(
    home: Path,
    tmp_path: Path,
    tillit_hsm: Callable[..., Result],
    check_ok: Callable[..., Result],
    subprocess_env: Callable[..., dict[str, str]],
) -> None:
    device = tmp_path / "f.json"
    out = check_ok(tillit_hsm("codedevice", "issue", "--serial", "S1", "--out", device, home=home)).stdout
    assert out == f"code device S1 issued; device file {device}\n"
    assert stat.S_IMODE(device.stat().st_mode) == 0o600

    code = check_ok(tillit_hsm("codedevice", "show", device, home=home)).stdout.strip()
    assert re.fullmatch(r"\d{6}", code)

    # The same codes computed in that token's HSM (another process: SoftHSM reads its config once).
    result = subprocess.run(
        [sys.executable, "-c", _HSM_CODES, str(device)],
        env=subprocess_env(TILLIT_HOME=str(home)),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    codes = _json(result)
    assert codes["hsm"] == codes["file"]
    assert code in codes["hsm"]

    _fails(
        tillit_hsm("codedevice", "issue", "--serial", "S1", "--out", device, home=home),
        "exists; choose another --out",
    )
    _fails(
        tillit_hsm("codedevice", "issue", "--serial", "S1", "--out", tmp_path / "g.json", home=home),
        "a secret labelled 'codedevice:S1' already exists",
    )
    _fails(tillit_hsm("codedevice", "show", tmp_path / "missing.json", home=home), "no code device file")


def test_codedevice_issue_to_a_file_that_cannot_be_written_leaves_the_serial_unused(
    home: Path, tmp_path: Path, tillit_hsm: Callable[..., Result], check_ok: Callable[..., Result]
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    for out, message in [
        (tmp_path / "nodir" / "d.json", "No such file or directory"),
        (a_file / "d.json", "Not a directory"),
        (a_file, "exists; choose another --out"),
    ]:
        _fails(tillit_hsm("codedevice", "issue", "--serial", "S2", "--out", out, home=home), message)
    _fails(
        tillit_hsm("codedevice", "issue", "--serial", "no serial", "--out", tmp_path / "bad.json", home=home),
        "a code device serial is 1-64 letters, digits or dashes",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]
    good = tmp_path / "d.json"
    check_ok(tillit_hsm("codedevice", "issue", "--serial", "S2", "--out", good, home=home))
    assert json.loads(good.read_text())["serial"] == "S2"
    # The token refusing (the serial is taken now) leaves no file behind.
    _fails(
        tillit_hsm("codedevice", "issue", "--serial", "S2", "--out", tmp_path / "again.json", home=home),
        "already exists",
    )
    assert not (tmp_path / "again.json").exists()


# -- errors an administrator meets --------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        ({"TILLIT_HSM_PIN": "0000"}, ["status"], "wrong PIN for token 'tillit'"),
        ({"TILLIT_TOKEN_LABEL": "nosuch"}, ["status"], "token 'nosuch' not found"),
        ({"TILLIT_PKCS11_MODULE": "/nonexistent.so"}, ["status"], "PKCS#11 module not found: /nonexistent.so"),
        ({}, ["keys", "show", "nope"], "no private key labelled 'nope' on the token"),
        ({}, ["keys", "destroy", "nope", "--yes"], "no private key labelled 'nope' on the token"),
        ({"TILLIT_HSM_PIN": "0000"}, ["keys", "list", "--json"], "wrong PIN"),
    ],
    ids=["wrong-pin", "token-not-found", "module-missing", "key-not-found", "destroy-missing", "json-wrong-pin"],
)
def test_errors_are_one_clear_line(
    home: Path, tillit_hsm: Callable[..., Result], env: dict[str, str], args: list[str], message: str
) -> None:
    _fails(tillit_hsm(*args, home=home, env=env), message)


def test_a_file_that_is_not_a_module(home: Path, tmp_path: Path, tillit_hsm: Callable[..., Result]) -> None:
    fake = tmp_path / "fake.so"
    fake.write_text("not a shared object\n")
    _fails(tillit_hsm("status", home=home, env={"TILLIT_PKCS11_MODULE": str(fake)}), "cannot load PKCS#11 module")


def test_before_init(tmp_path: Path, tillit_hsm: Callable[..., Result]) -> None:
    _fails(tillit_hsm("status", home=tmp_path / "empty"), "run `tillit-hsm init`")
    _fails(tillit_hsm("keys", "list", home=tmp_path / "empty"), "run `tillit-hsm init`")


def test_two_tokens_with_one_label_are_told_apart_by_serial(
    tmp_path: Path, tillit_hsm: Callable[..., Result], check_ok: Callable[..., Result]
) -> None:
    """SoftHSM renumbers slots, so tokens are chosen by label; when two share a label the
    administrator is told to name the serial, and TILLIT_TOKEN_SERIAL then picks the one meant."""
    first, second = tmp_path / "first", tmp_path / "second"
    serials = [
        re.search(r"\(serial ([0-9a-f]+)\)", check_ok(tillit_hsm("init", home=home)).stdout).group(1)  # type: ignore[union-attr]
        for home in (first, second)
    ]
    (token_dir,) = (second / "tokens").iterdir()
    shutil.copytree(token_dir, first / "tokens" / token_dir.name)  # both tokens now in the first home

    _fails(tillit_hsm("status", home=first), "several tokens are labelled 'tillit': set TILLIT_TOKEN_SERIAL")
    chosen = _json(tillit_hsm("status", "--json", home=first, env={"TILLIT_TOKEN_SERIAL": serials[0]}))
    assert chosen["serial"] == serials[0] and chosen["label"] == "tillit"
    # The second token's PIN is in the second home: with the first home's PIN it does not open.
    _fails(tillit_hsm("status", home=first, env={"TILLIT_TOKEN_SERIAL": serials[1]}), "wrong PIN")
    _fails(tillit_hsm("status", home=first, env={"TILLIT_TOKEN_SERIAL": "0123456789abcdef"}), "not found")


# A CA made to end within a year, as `ca init` would have made it nine years ago.
_SHORT_CA = """
from tillit.hsm.ca import CertificateAuthority
from tillit.hsm.client import Hsm
from tillit.hsm.settings import HsmSettings
with Hsm(HsmSettings()) as hsm:
    ca = CertificateAuthority.for_home(hsm)
    ca.init(years=1)
    ca.issue_timestamping_certificate()
"""


def test_ca_status_says_when_each_certificate_ends_and_when_to_renew(
    tmp_path: Path,
    tillit_hsm: Callable[..., Result],
    check_ok: Callable[..., Result],
    subprocess_env: Callable[..., dict[str, str]],
) -> None:
    check_ok(tillit_hsm("init", home=tmp_path))
    check_ok(subprocess.run([sys.executable, "-c", _SHORT_CA], env=subprocess_env(TILLIT_HOME=str(tmp_path)),
                            capture_output=True, text=True, timeout=60))  # fmt: skip
    rows = {row["role"]: row for row in _json(tillit_hsm("ca", "status", "--json", home=tmp_path))}
    assert list(rows) == ["root", "issuing", "tsa", "ocsp"]
    assert rows["root"]["subject"] == "Tillit Root CA" and rows["root"]["daysLeft"] == 364
    assert rows["tsa"]["daysLeft"] < rows["issuing"]["daysLeft"] < rows["root"]["daysLeft"]
    text = check_ok(tillit_hsm("ca", "status", home=tmp_path)).stdout.splitlines()
    assert text[0].startswith("root     Tillit Root CA") and "(364 days)" in text[0], text
    assert text[-1] == "renew now, the root and the tsa end within a year: tillit-hsm ca renew --years N", text

    renewed = check_ok(tillit_hsm("ca", "renew", "--years", "5", home=tmp_path)).stdout
    assert renewed.startswith("CA renewed: Tillit Root CA until "), renewed
    rows = {row["role"]: row for row in _json(tillit_hsm("ca", "status", "--json", home=tmp_path))}
    assert rows["root"]["daysLeft"] > 365 * 4 and rows["tsa"]["daysLeft"] > 365 * 4
    assert not check_ok(tillit_hsm("ca", "status", home=tmp_path)).stdout.splitlines()[-1].startswith("renew now")
