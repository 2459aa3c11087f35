"""An administrator's mistakes end in one line: the four commands run as subprocesses, as an
administrator runs them, against a real TILLIT_HOME with a SoftHSM token and CA.

Each mistake (a settings file that is not TOML, a bad value, an unknown key, a TILLIT_CONFIG naming
no file, a port in use, an unexpected failure) must give exactly one line on stderr naming what is
wrong and where, a non-zero exit, no traceback (unless --debug), and touch nothing.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from tests.daemon import PASSWORD, Daemon, free_port, make_daemon, tool
from tests.factories import fresh_adult, synthetic_number

pytestmark = pytest.mark.integration

Result = subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Daemon:
    """A home with a token, a CA and a kiosk; no daemon running (each test starts what it needs)."""
    return make_daemon(tmp_path_factory.mktemp("admin-errors") / "home")


def run(d: Daemon, *argv: str, stdin: str | None = None, **env: str) -> Result:
    """One of the four commands with the home's environment plus `env`."""
    return subprocess.run(
        [tool(argv[0]), *argv[1:]],
        input=stdin,
        capture_output=True,
        text=True,
        env={**d.env, **env},
        timeout=120,
    )


def one_line(result: Result, program: str, *fragments: str) -> str:
    """A refusal: non-zero exit, nothing on stdout, one line on stderr from `program` holding every fragment."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{program}: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Path]:
    """A settings file of the test's own, named by TILLIT_CONFIG (the home's default place is left alone)."""
    yield tmp_path / "tillit.toml"


COMMANDS = [
    ("tillit-signer", "serve"),
    ("tillit-signer", "customers", "list"),
    ("tillit-signer", "config"),
    ("tillit-hsm", "status"),
]


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_a_settings_file_that_is_not_toml_is_named_with_line_and_column(
    daemon: Daemon, config: Path, argv: tuple[str, ...]
) -> None:
    config.write_text('host = "127.0.0.1"\nport = 87 00\n')
    result = run(daemon, *argv, TILLIT_CONFIG=str(config))
    one_line(result, argv[0], str(config), "not valid TOML", "line 2, column 11")


def test_the_file_in_the_default_place_is_named_too(tmp_path: Path, daemon: Daemon) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "tillit.toml").write_text("[port\n")
    result = run(daemon, "tillit-hsm", "status", TILLIT_HOME=str(home))
    one_line(result, "tillit-hsm", str(home / "tillit.toml"), "line 1, column 6")
    assert sorted(p.name for p in home.iterdir()) == ["tillit.toml"]  # nothing created


def test_a_bad_value_in_the_environment_names_the_variable_and_the_fix(daemon: Daemon) -> None:
    for argv in COMMANDS[:3]:
        result = run(daemon, *argv, TILLIT_ORDER_TTL_SECONDS="abc")
        one_line(
            result,
            "tillit-signer",
            "TILLIT_ORDER_TTL_SECONDS='abc' (environment)",
            "valid number",
            "unset TILLIT_ORDER_TTL_SECONDS for the default 180.0",
        )
    one_line(run(daemon, "tillit-kiosk", TILLIT_KIOSK_IDLE_SECONDS="soon"), "tillit-kiosk", "TILLIT_KIOSK_IDLE_SECONDS")


def test_a_bad_value_in_the_file_names_the_file_and_key(daemon: Daemon, config: Path) -> None:
    config.write_text('pades_level = "B-X"\n')
    one_line(
        run(daemon, "tillit-signer", "customers", "list", TILLIT_CONFIG=str(config)),
        "tillit-signer",
        f"pades_level = 'B-X' in {config}",
        "one of B-B, B-T, B-LT, B-LTA, or remove the line",
    )
    config.write_text("token_label = 5\n")
    one_line(
        run(daemon, "tillit-hsm", "status", TILLIT_CONFIG=str(config)), "tillit-hsm", f"token_label = 5 in {config}"
    )


def test_an_unknown_key_is_refused_with_the_nearest_known_one(daemon: Daemon, config: Path) -> None:
    config.write_text("prot = 18703\n")
    for argv in COMMANDS[:3]:
        result = run(daemon, *argv, TILLIT_CONFIG=str(config))
        one_line(result, "tillit-signer", str(config), "'prot' is not a setting; did you mean 'port'?")
    # tillit-hsm cannot know the signer's keys (hsm imports no signer): a key of the signer's is no
    # mistake for it, and the signer refuses the unknown one above.
    config.write_text("order_ttl_seconds = 30\n")
    assert run(daemon, "tillit-hsm", "status", TILLIT_CONFIG=str(config)).returncode == 0


def test_an_unknown_kiosk_key_is_refused(daemon: Daemon, tmp_path: Path) -> None:
    kiosk_toml = tmp_path / "kiosk.toml"
    kiosk_toml.write_text("idle_secnds = 30\n")
    result = run(daemon, "tillit-kiosk", TILLIT_KIOSK_CONFIG=str(kiosk_toml))
    one_line(result, "tillit-kiosk", str(kiosk_toml), "did you mean 'idle_seconds'?")


def test_an_unknown_tillit_variable_is_warned_about(daemon: Daemon) -> None:
    result = run(daemon, "tillit-signer", "config", TILLIT_PROT="18703")
    assert result.returncode == 0
    assert result.stderr == "tillit: warning: TILLIT_PROT is not a setting and is ignored (did you mean TILLIT_PORT?)\n"


def test_tillit_config_naming_no_file_is_refused(daemon: Daemon, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    for argv in [*COMMANDS[:3], ("tillit-hsm", "status")]:
        result = run(daemon, *argv, TILLIT_CONFIG=str(missing))
        one_line(result, argv[0], f"TILLIT_CONFIG={missing}: no such file")


def test_config_prints_the_settings_in_effect(daemon: Daemon, config: Path) -> None:
    config.write_text('public_url = "https://bankid.example.no"\norder_ttl_seconds = 30\n')
    result = run(daemon, "tillit-signer", "config", TILLIT_CONFIG=str(config), TILLIT_ORDER_TTL_SECONDS="42")
    assert result.returncode == 0, result.stderr
    effective = tomllib.loads(result.stdout)
    assert effective["order_ttl_seconds"] == 42.0  # the environment wins over the file
    assert effective["public_url"] == "https://bankid.example.no"
    assert effective["port"] == daemon.port and effective["home"] == str(daemon.home)
    assert effective["pades_level"] == "B-LTA" and "hsm_pin" not in effective
    assert "order_ttl_seconds = 42.0  # TILLIT_ORDER_TTL_SECONDS\n" in result.stdout
    instance = (daemon.home / "instance-id").read_text().strip()
    assert f"# instance_id =   (unset)  # in use: '{instance}'" in result.stdout  # the id the daemon runs as
    assert f'public_url = "https://bankid.example.no"  # {config}\n' in result.stdout
    assert tomllib.loads(run(daemon, "tillit-signer", "config", "--defaults").stdout) == {}
    url = "postgresql://tillit:s3cret@db.bank.example/tillit"
    shown = run(daemon, "tillit-signer", "config", TILLIT_DATABASE_URL=url).stdout
    assert "s3cret" not in shown and 'database_url = "postgresql://tillit:***@db.bank.example/tillit"' in shown
    url = "postgresql://tillit@db.bank.example/tillit?sslmode=require&password=s3cret"
    shown = run(daemon, "tillit-signer", "config", TILLIT_DATABASE_URL=url).stdout
    assert "s3cret" not in shown and "tillit?sslmode=require&password=***" in shown
    refused = run(daemon, "tillit-signer", "config", TILLIT_DATABASE_URL="host=db password=s3cret")
    assert refused.returncode != 0 and "s3cret" not in refused.stderr and "password=***" in refused.stderr


def test_a_synthetic_number_refused_names_the_setting(daemon: Daemon) -> None:
    result = run(
        daemon, "tillit-signer", "customers", "add", "--personal-number", synthetic_number(), "--name", "Kari",
        "--mobile", "+4791234567", "--email", "kari@example.no", "--password-stdin",
        stdin=PASSWORD + "\n", TILLIT_ALLOW_TEST_NUMBERS="0",
    )  # fmt: skip
    one_line(result, "tillit-signer", "synthetic test numbers", "TILLIT_ALLOW_TEST_NUMBERS=1")


def test_serve_on_a_port_in_use_is_one_line_and_touches_nothing(daemon: Daemon, tmp_path: Path) -> None:
    database = tmp_path / "fresh.db"
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run(daemon, "tillit-signer", "serve", "--port", str(port), TILLIT_DATABASE_URL=f"sqlite:///{database}")
    one_line(result, "tillit-signer", f"port {port} on 127.0.0.1 is in use", "--port or TILLIT_PORT")
    assert not database.exists()  # the store was never opened (nor, before it, the HSM)


def test_serve_on_an_rp_port_in_use_names_the_rp_port_setting(daemon: Daemon, tmp_path: Path) -> None:
    database = tmp_path / "fresh.db"
    with socket.create_server(("127.0.0.1", 0)) as free, socket.create_server(("127.0.0.1", 0)) as taken:
        port, rp_port = free.getsockname()[1], taken.getsockname()[1]
        free.close()
        result = run(
            daemon, "tillit-signer", "serve", "--port", str(port),
            TILLIT_RP_PORT=str(rp_port), TILLIT_DATABASE_URL=f"sqlite:///{database}",
        )  # fmt: skip
    one_line(result, "tillit-signer", f"port {rp_port} on 127.0.0.1 is in use", "choose another: TILLIT_RP_PORT")
    assert not database.exists()


def test_serve_still_serves(daemon: Daemon) -> None:
    """The socket bound before startup is the one uvicorn answers on."""
    daemon.start()
    try:
        with daemon.kiosk() as k:
            assert k.get("/healthz").status_code == 200
    finally:
        daemon.stop()


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(daemon: Daemon, tmp_path: Path) -> None:
    not_a_database = tmp_path / "signer.db"
    not_a_database.write_bytes(b"this is no SQLite database, whatever its name says" * 40)
    env = {"TILLIT_DATABASE_URL": f"sqlite:///{not_a_database}"}
    result = run(daemon, "tillit-signer", "customers", "list", **env)
    one_line(result, "tillit-signer", "internal error: DatabaseError: file is not a database", "--debug")
    for debugged in (run(daemon, "tillit-signer", "--debug", "customers", "list", **env),
                     run(daemon, "tillit-signer", "customers", "list", TILLIT_DEBUG="1", **env)):  # fmt: skip
        assert debugged.returncode != 0 and "Traceback" in debugged.stderr
        assert "sqlite3.DatabaseError" in debugged.stderr


@pytest.mark.parametrize("program", ["tillit-signer", "tillit-hsm", "tillit-kiosk", "tillit-phone"])
def test_version(daemon: Daemon, program: str) -> None:
    result = run(daemon, program, "--version")
    assert result.returncode == 0
    assert result.stdout == f"{program}, version {importlib.metadata.version('tillit')}\n"


def test_a_loaded_pkcs11_module_unloads_quietly_at_exit(daemon: Daemon) -> None:
    """python-pkcs11's `lib.__dealloc__` looks `unload` up by name: on the subclass Tillit had, the
    lookup failed when interpreter shutdown cleared the class first (an exception in the middle of
    a traceback's frames kept the module in the garbage with it, as when `serve` failed to bind)."""
    script = (
        "import sys\n"
        "from tillit.hsm.module import load_module\n"
        "from tillit.hsm.settings import SOFTHSM_MODULE\n"
        "lib = load_module(SOFTHSM_MODULE)\n"
        "class Holder: pass\n"
        "holder = Holder(); holder.me = holder; holder.lib = lib\n"
        "try:\n"
        "    raise SystemExit(3)\n"
        "except SystemExit as e:\n"
        "    holder.error = e\n"
        "    sys.exit(3)\n"
    )
    env = {**daemon.env, "SOFTHSM2_CONF": str(daemon.home / "softhsm2.conf")}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=daemon.home, timeout=60
    )
    assert result.returncode == 3
    assert result.stderr == "", result.stderr


@pytest.mark.parametrize(
    "name,value,says",
    [
        ("TILLIT_DATABASE_URL", "mysql://x", "give a postgresql://... URL, or sqlite:///PATH"),
        ("TILLIT_DATABASE_URL", "postgresq://u@h/x", "give a postgresql://... URL"),
        ("TILLIT_ORDER_TTL_SECONDS", "-5", "greater than 0"),
        ("TILLIT_WORKER_THREADS", "0", "greater than or equal to 1"),
        ("TILLIT_PASSWORD_ATTEMPTS", "0", "greater than or equal to 1"),
    ],
)
def test_a_setting_out_of_its_range_is_refused_in_one_line_and_nothing_is_made(
    tmp_path: Path, name: str, value: str, says: str
) -> None:
    """A misspelt database scheme used to become a SQLite file of that name in the working directory,
    and a negative order lifetime was taken."""
    env = {**os.environ, "TILLIT_HOME": str(tmp_path / "home"), name: value}
    result = subprocess.run(
        [tool("tillit-signer"), "customers", "list"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"tillit-signer: {name}="), result.stderr
    assert says in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no database, no home


@pytest.mark.parametrize("command", [("tillit-hsm", "init"), ("tillit-signer", "kiosks", "list")])
def test_an_empty_tillit_home_is_refused_and_the_working_directory_left_alone(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    """A newcomer probe: `TILLIT_HOME= tillit-hsm init` made the working directory the home, wrote PIN
    files and a token store into it, and made it private (0700)."""
    mode = tmp_path.stat().st_mode
    env = {**os.environ, "TILLIT_HOME": ""}
    result = subprocess.run(
        [tool(command[0]), *command[1:]], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"{command[0]}: TILLIT_HOME='' (environment): is empty: give the data directory, or unset it for"
        " ~/.local/share/tillit"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [] and tmp_path.stat().st_mode == mode


@pytest.mark.parametrize("program", ["tillit-hsm", "tillit-signer"])
def test_a_tillit_home_that_is_a_file_is_named_as_such(tmp_path: Path, program: str) -> None:
    """A newcomer probe: "afile/tillit.toml: cannot read the settings file: Not a directory"."""
    home = tmp_path / "afile"
    home.write_text("")
    result = subprocess.run(
        [tool(program), "status" if program == "tillit-hsm" else "config"],
        capture_output=True,
        text=True,
        env={**os.environ, "TILLIT_HOME": str(home)},
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"{program}: {home} is a file, not a directory: TILLIT_HOME names the data directory"
    ]


@pytest.mark.parametrize(
    "command", [("tillit-phone", "--profile", "kari", "watch"), ("tillit-kiosk", "demo"), ("tillit-kiosk",)]
)
def test_a_screen_without_a_terminal_is_refused_at_once(tmp_path: Path, command: tuple[str, ...]) -> None:
    """A newcomer probe started `tillit-phone watch` and the kiosk with standard input from /dev/null:
    each ran on, could not be quit, and took a whole CPU until killed."""
    token = tmp_path / "kiosk.token"
    token.write_text("a-token\n")
    env = {
        **os.environ,
        "TILLIT_HOME": str(tmp_path / "home"),
        "TILLIT_KIOSK_SIGNER_URL": "http://127.0.0.1:9",
        "TILLIT_KIOSK_TOKEN_FILE": str(token),
        "TILLIT_KIOSK_DEMO_PORT": str(free_port()),  # the demo checks its port first
    }
    result = subprocess.run(
        [tool(command[0]), *command[1:]],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=30,
    )
    assert result.returncode == 2, result
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: {' '.join(c for c in command if c not in ('--profile', 'kari'))} needs a terminal"
        " (standard input and output are not one)"
    )


def test_the_demo_refuses_a_port_its_home_was_not_made_for(tmp_path: Path) -> None:
    """A newcomer probe ran the demo again on an existing home with another --port: it started without
    a word, and every document it signed pointed at the first port for CRLs and OCSP."""
    env = {**os.environ, "TILLIT_HOME": str(tmp_path / "demo")}
    first, second = free_port(), free_port()

    def demo(port: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [tool("tillit-kiosk"), "demo", "--port", str(port), "--setup-only"],
            capture_output=True,
            text=True,
            env=env,
            timeout=180,
        )

    assert demo(first).returncode == 0
    moved = demo(second)
    assert moved.returncode == 1 and moved.stdout == "", moved
    assert moved.stderr.strip().splitlines() == [
        f"tillit-kiosk: demo: this home's CA was made for http://127.0.0.1:{first}, where its certificates point for"
        f" CRLs and OCSP: run the demo on port {first} (--port), or give it a new TILLIT_HOME"
    ]


def test_serve_without_a_ca_is_refused_in_one_line(tmp_path: Path) -> None:
    """Before, it served: customers were enrolled without certificates and nothing could be signed."""
    env = {**os.environ, "TILLIT_HOME": str(tmp_path / "home")}
    subprocess.run([tool("tillit-hsm"), "init"], env=env, check=True, capture_output=True, timeout=120)
    result = subprocess.run(
        [tool("tillit-signer"), "serve", "--port", "0"], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "tillit-signer: HSM: the CA is not initialised: run `tillit-hsm ca init` before `serve`"
    ]


def test_a_second_serve_on_one_sqlite_home_is_refused_in_one_line(daemon: Daemon) -> None:
    """Before, it served beside the first, with the first's instance id, rate windows of its own,
    and no way to wake the phones long-polling the first."""
    daemon.start()
    try:
        second = run(daemon, "tillit-signer", "serve", "--port", str(free_port()), TILLIT_PUBLIC_URL=daemon.url)
    finally:
        daemon.stop()
    one_line(second, "tillit-signer", "another tillit-signer serves", "PostgreSQL")


# -- a command that fails changes nothing, and says so in one line ------------------------------


def not_a_folder(tmp_path: Path) -> Path:
    """A path no process can make a folder at, whoever runs the tests (root writes anywhere)."""
    plain = tmp_path / "a-file"
    plain.write_text("")
    return plain / "out"


def rows(d: Daemon, table: str) -> int:
    db = sqlite3.connect(d.home / "signer.db")
    try:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608 - fixed names
    finally:
        db.close()


def add_customer(d: Daemon, number: str, *extra: str, **env: str) -> Result:
    return run(
        d, "tillit-signer", "customers", "add", "--personal-number", number, "--name", "Kari Nordmann",
        "--mobile", "+4791234567", "--email", "kari@example.no", "--password-stdin", *extra,
        stdin=PASSWORD + "\n", **env,
    )  # fmt: skip


def test_rps_add_to_a_folder_it_cannot_write_registers_nothing(daemon: Daemon, tmp_path: Path) -> None:
    one_line(run(daemon, "tillit-signer", "rps", "add", "--name", "Skrivebanken", "--out", str(not_a_folder(tmp_path))),
             "tillit-signer", "Not a directory")  # fmt: skip
    assert "Skrivebanken" not in run(daemon, "tillit-signer", "rps", "list").stdout
    folder = tmp_path / "rp"
    assert run(daemon, "tillit-signer", "rps", "add", "--name", "Skrivebanken", "--out", str(folder)).returncode == 0
    assert sorted(p.name for p in folder.iterdir()) == ["ca.pem", "rp.crt", "rp.key"]
    # Files already there are not overwritten, and nothing is registered.
    one_line(run(daemon, "tillit-signer", "rps", "add", "--name", "Andre", "--out", str(folder)),
             "tillit-signer", "rp.key exists")  # fmt: skip
    assert "Andre" not in run(daemon, "tillit-signer", "rps", "list").stdout
    # A relying party is no kiosk: `kiosks list` leaves it out, `kiosks revoke` points to `rps revoke`.
    listed = json.loads(run(daemon, "tillit-signer", "kiosks", "list", "--json").stdout)
    assert "Skrivebanken" not in {k["name"] for k in listed} and {k["role"] for k in listed} <= {"kiosk", "staff"}
    one_line(run(daemon, "tillit-signer", "kiosks", "revoke", "Skrivebanken"), "tillit-signer", "rps revoke")


def test_kiosks_sharing_a_name_are_revoked_by_id_and_a_second_revoke_says_already_revoked(daemon: Daemon) -> None:
    """A branch's kiosks may all carry its name; a revoke by that name then asks for the id."""
    assert run(daemon, "tillit-signer", "kiosks", "add", "--name", "Voss").returncode == 0
    assert run(daemon, "tillit-signer", "kiosks", "add", "--name", "Voss").returncode == 0
    one_line(run(daemon, "tillit-signer", "kiosks", "revoke", "Voss"), "tillit-signer", "2 active kiosks", "by its id")
    listed = json.loads(run(daemon, "tillit-signer", "kiosks", "list", "--json").stdout)
    ids = [k["id"] for k in listed if k["name"] == "Voss"]
    for kiosk_id in ids:
        assert run(daemon, "tillit-signer", "kiosks", "revoke", kiosk_id).returncode == 0
    one_line(run(daemon, "tillit-signer", "kiosks", "revoke", ids[0]), "tillit-signer", "already revoked")
    one_line(run(daemon, "tillit-signer", "kiosks", "revoke", "Ingen"), "tillit-signer", "no kiosk with the id or name")


def test_audit_export_to_a_folder_it_cannot_write_signs_nothing(daemon: Daemon, tmp_path: Path) -> None:
    before = rows(daemon, "audit_checkpoints")
    result = run(daemon, "tillit-signer", "audit", "export", "--out", str(not_a_folder(tmp_path)))
    one_line(result, "tillit-signer", "Not a directory")
    assert rows(daemon, "audit_checkpoints") == before
    one_line(run(daemon, "tillit-signer", "audit", "verify", "--expect", "999999"), "tillit-signer",
             "audit log broken at entry", "entry 999999 was expected")  # fmt: skip
    one_line(run(daemon, "tillit-signer", "audit", "verify", "--expect", "x"), "tillit-signer", "--expect")


def test_a_guardian_for_an_adult_is_refused(daemon: Daemon) -> None:
    guardian, adult = fresh_adult(), fresh_adult()
    daemon.enrol(guardian, "Anne Verje")
    one_line(add_customer(daemon, adult, "--guardian", guardian), "tillit-signer", "leave out --guardian")
    assert "no such customer" in run(daemon, "tillit-signer", "customers", "show", adult).stderr


def test_a_second_revoke_certificate_says_it_is_already_revoked(daemon: Daemon) -> None:
    number = fresh_adult()
    daemon.enrol(number)
    assert run(daemon, "tillit-signer", "customers", "revoke-certificate", number).returncode == 0
    one_line(run(daemon, "tillit-signer", "customers", "revoke-certificate", number), "tillit-signer",
             "is already revoked")  # fmt: skip


def test_customers_need_the_ca(tmp_path: Path) -> None:
    """A token without a CA (`tillit-hsm init` alone): no customer is enrolled without a certificate."""
    d = Daemon(home=tmp_path / "home", port=0, env={})
    d.home.mkdir()
    d.env = {k: v for k, v in os.environ.items() if not k.startswith("TILLIT_") and k != "SOFTHSM2_CONF"}
    d.env.update({"TILLIT_HOME": str(d.home), "TILLIT_ALLOW_TEST_NUMBERS": "1"})
    d.run("tillit-hsm", "init")
    number = fresh_adult()
    one_line(add_customer(d, number), "tillit-signer", "run `tillit-hsm ca init`")
    assert json.loads(run(d, "tillit-signer", "customers", "list", "--json").stdout) == []
    one_line(run(d, "tillit-signer", "customers", "reissue-certificate", number), "tillit-signer", "tillit-hsm ca init")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "-5"], "--days: a certificate lives at least 1 day"),
        (["--days", "5000"], "--days: a server certificate lives at most 825 days"),
        (["--hostname", "bad host!"], "--hostname: 'bad host!' is neither a DNS name nor an IP address"),
    ],
    ids=["negative-days", "too-many-days", "bad-hostname"],
)
def test_tls_issue_refuses_bad_input_and_issues_nothing(
    daemon: Daemon, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "tls"
    one_line(run(daemon, "tillit-signer", "tls", "issue", "--out-dir", str(out), *args), "tillit-signer", message)
    assert not out.exists()


def test_tls_issue_prints_absolute_paths_and_keeps_a_key(daemon: Daemon, tmp_path: Path) -> None:
    issue = [
        tool("tillit-signer"),
        "tls",
        "issue",
        "--out-dir",
        "tls",
        "--hostname",
        "bank.example",
        "--hostname",
        "::1",
    ]
    done = subprocess.run(issue, capture_output=True, text=True, env=daemon.env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "tls"
    assert done.stdout == f"TILLIT_TLS_CERT={folder / 'tls-cert.pem'}\nTILLIT_TLS_KEY={folder / 'tls-key.pem'}\n"
    key = (folder / "tls-key.pem").read_bytes()
    again = subprocess.run(issue, capture_output=True, text=True, env=daemon.env, cwd=tmp_path, timeout=120)
    one_line(again, "tillit-signer", "tls-key.pem exists; add --replace")
    assert (folder / "tls-key.pem").read_bytes() == key
    replaced = subprocess.run([*issue, "--replace"], capture_output=True, text=True, env=daemon.env, cwd=tmp_path)
    assert replaced.returncode == 0 and (folder / "tls-key.pem").read_bytes() != key
    assert sorted(p.name for p in folder.iterdir()) == ["tls-cert.pem", "tls-key.pem"]


def test_agreements_add_says_a_file_that_is_not_a_pdf_is_not_one(daemon: Daemon, tmp_path: Path) -> None:
    number = fresh_adult()
    daemon.enrol(number)
    plan = tmp_path / "plan.txt"
    plan.write_text("Termin 1: 4 250 kr\n")
    result = run(
        daemon, "tillit-signer", "agreements", "add", "--personal-number", number, "--title", "Plan", str(plan)
    )
    line = one_line(result, "tillit-signer", "document 'plan.txt' is not a PDF")
    assert "cannot be signed" not in line


# Every option of every administrator's command says what it is for, --json always in one wording.
def _options(group: click.Group, path: tuple[str, ...]) -> Iterator[tuple[str, click.Option]]:
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _options(command, (*path, name))
        else:
            for param in command.params:
                if isinstance(param, click.Option):
                    yield " ".join((*path, name, param.opts[0])), param


@pytest.mark.parametrize("program", ["tillit-signer", "tillit-hsm", "tillit-phone"])
def test_every_option_has_help(program: str) -> None:
    from tillit.hsm.cli import main as hsm_main
    from tillit.phone.cli import main as phone_main
    from tillit.signer.cli import main as signer_main

    root = {"tillit-signer": signer_main, "tillit-hsm": hsm_main, "tillit-phone": phone_main}[program]
    options = list(_options(root, (program,)))
    assert [where for where, option in options if not option.help] == []
    assert {option.help for where, option in options if where.endswith(" --json")} == {"Print JSON instead of text."}
