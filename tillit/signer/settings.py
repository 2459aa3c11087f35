"""The signer's configuration: a TOML file plus `TILLIT_*` environment variables (these win)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import ClassVar, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, field_validator

from tillit.config import given_home, known_database_url, read_toml, warn_unknown_variables
from tillit.hsm.settings import HsmSettings, TillitSettings, default_home

# The policy under which Tillit's TSA issues tokens: an OID under 2.25 (ITU-T X.667), made from a
# random UUID (d1c0a5f2-6b8e-4f4e-9a3c-7e1b2f0c5d84), since Tillit has no arc of its own to put it
# under. What it means is in docs/signatures.md: Tillit's own clock (NTP-disciplined host),
# accuracy one second, tokens for any SHA-2 digest, keys in the HSM.
TSA_POLICY = "2.25.278808937919972973353344460611239304580"

# `TILLIT_*` variables that are no setting of the shared file but read by other programs: the
# settings file's name, the commands' traceback switch, the kiosk's and the phone's own, and the
# test suite's and the benchmark's.
OTHER_VARIABLES = (
    "TILLIT_CONFIG",
    "TILLIT_DEBUG",
    "TILLIT_KIOSK_",
    "TILLIT_PHONE_",
    "TILLIT_TEST_",
    "TILLIT_BENCH_",
    "TILLIT_FULL_TESTS",
    "TILLIT_FIGURES_OUT",
)


INSTANCE_FILE = "instance-id"
"""The file in the home holding the instance id made when `instance_id` is unset (`signer.leases`)."""


class SignerSettings(TillitSettings):
    """Settings of `tillit-signer`. File: $TILLIT_CONFIG or $TILLIT_HOME/tillit.toml, whose keys
    are this class's and `HsmSettings`'s: any other key is refused."""

    listed_by: ClassVar[str] = "`tillit-signer config --defaults`"

    @classmethod
    def shown(cls, name: str, value: object) -> str:
        return repr(without_password(value)) if name == "database_url" and isinstance(value, str) else repr(value)

    @classmethod
    def file_keys(cls) -> set[str]:
        return set(cls.model_fields) | set(HsmSettings.model_fields)

    @classmethod
    def warn_about_environment(cls) -> None:
        warn_unknown_variables("TILLIT_", {f"TILLIT_{key}" for key in cls.file_keys()}, OTHER_VARIABLES)

    home: Path = Field(default_factory=default_home)
    """Data directory: SoftHSM config and tokens, database, CA ledger."""

    _given_home = field_validator("home", mode="before")(given_home)

    database_url: str | None = None
    """Unset: SQLite at home/signer.db, the CA ledger at home/ca.db. `postgresql://...` for several
    instances: the signer's data and the CA ledger in that database, on every machine.
    `sqlite:///PATH`: SQLite at PATH. Anything else is refused, so that a misspelt scheme is not
    taken for a SQLite file name."""

    _known_database = field_validator("database_url")(known_database_url)

    host: str = "127.0.0.1"
    """Address `serve` listens on."""

    port: int = Field(default=8700, ge=1, le=65535)
    """Port `serve` listens on."""

    public_url: str | None = None
    """Base URL written into certificates (CRL, OCSP); default http://host:port."""

    allow_test_numbers: bool = False
    """Accept synthetic test numbers (month + 80). Never in production."""

    order_ttl_seconds: float = Field(default=180.0, gt=0, le=86400)
    """How long an order lives."""

    activation_ttl_seconds: float = Field(default=600.0, gt=0, le=86400)
    """How long an app activation and its SMS and e-mail codes live."""

    max_document_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    """Largest document in a sign order, after base64 decoding."""

    max_documents: int = Field(default=10, ge=1, le=100)
    """Most documents in one sign order."""

    max_json_body_bytes: int = Field(default=64 * 1024, ge=1024)
    """Largest body of a request without documents (every JSON route but /v1/sign and the staff's
    POST /v1/agreements, which take up to `max_documents` documents of `max_document_bytes` in
    base64 and 64 KiB beside them). Routes that read no body accept none."""

    request_head_seconds: float = Field(default=10.0, gt=0, le=600)
    """Time a client has to send a request's line and headers, from its first byte (for a new
    connection, from the connection), on the daemon's port and the RP API face; a head still
    incomplete then is answered 408 `requestTimeout` and the connection closed. Against clients
    that hold connections open with heads that never end ("slowloris")."""

    shutdown_grace_seconds: int = Field(default=10, ge=1, le=3600)
    """At a stop (SIGTERM), how long `serve` waits for the requests in flight to be answered before
    it cancels them. Phones' long-polls are answered at once when the stop begins; keep this under
    the service manager's stop timeout (deploy/tillit-signer.service: `TimeoutStopSec=20`)."""

    request_head_bytes: int = Field(default=65536, ge=8192, le=1048576)
    """The most a request's line and headers may take, in bytes, on the daemon's port and the RP API
    face; a longer head is answered 431 and the connection closed. Against heads that grow without
    end, which the HTTP parser would otherwise buffer whole."""

    request_body_seconds: float = Field(default=10.0, gt=0, le=600)
    """Time a client has to send a request's body once its headers are in, on the daemon's port and
    the RP API face, plus 1 s for every `request_body_bytes_per_second` bytes that have arrived; a
    body still incomplete then is answered 408 `requestTimeout` and the connection closed. Against
    clients that trickle bodies to hold the daemon's connections."""

    request_body_bytes_per_second: int = Field(default=64 * 1024, ge=1024)
    """The slowest upload that still gets its whole time: each byte of a body that arrives extends
    the body's deadline (`request_body_seconds`) by 1/this s, so a large document on a slow line
    arrives, while a body trickled a few bytes at a time does not keep the connection."""

    ocsp_max_request_bytes: int = Field(default=4096, ge=256)
    """Largest OCSP request (DER) /v1/ocsp reads; a bigger one is refused with 413."""

    ocsp_max_cert_ids: int = Field(default=10, ge=1)
    """Most certificates one OCSP request may ask about; more get a `malformedRequest` response."""

    ocsp_concurrency: int = Field(default=2, ge=1)
    """OCSP requests answered at once (each may take an HSM signature); one more is refused with
    503 and Retry-After, so that an OCSP flood cannot take the threads every other route needs."""

    ocsp_cache_seconds: float = Field(default=30.0, ge=0)
    """How long a signed OCSP response without a nonce is handed out again for the same question
    and the same answer (a revocation changes the answer at once). 0: sign every response."""

    pades_level: Literal["B-B", "B-T", "B-LT", "B-LTA"] = "B-LTA"
    """PAdES level of signed PDFs (ETSI EN 319 142-1). B-B: the signature alone, which stops
    validating when the customer's certificate expires or is revoked; B-T: plus a signature
    timestamp from Tillit's TSA; B-LT: plus every certificate, OCSP response and CRL of the chains in
    the document's DSS; B-LTA: plus a document timestamp over all of it, which
    `tillit-signer archive-timestamp` renews. Detached CMS signatures are CAdES-T (a signature
    timestamp) at every level but B-B, with the revocation data inside from B-LT on."""

    tsa_policy_oid: str = Field(default=TSA_POLICY, pattern=r"^[0-2](\.(0|[1-9][0-9]*))+$")
    """The policy OID written into every timestamp token (docs/signatures.md says what it means);
    a request asking for another policy is rejected."""

    tsa_accuracy_seconds: int = Field(default=1, ge=1, le=60)
    """The accuracy every timestamp token states, in seconds."""

    tsa_max_request_bytes: int = Field(default=4096, ge=256)
    """Largest timestamp request (DER) POST /v1/tsa reads; a bigger one is refused with 413."""

    tsa_concurrency: int = Field(default=2, ge=1)
    """Timestamp requests POST /v1/tsa answers at once (each takes an HSM signature); one more is
    refused with 503 and Retry-After. The daemon's own signing does not wait for these slots."""

    password_attempts: int = Field(default=5, ge=1, le=100)
    """Wrong passwords in a row before the password locks."""

    control_answer_attempts: int = Field(default=3, ge=1, le=100)
    """Wrong sets of control answers in a row, over all reset orders, before a reset by control
    questions locks (an administrator unlocks; code device and app still reset)."""

    argon2_time_cost: int = Field(default=2, ge=2, le=1000)
    """Argon2id iterations (at least 2). Raised, it reaches each stored password at its customer's
    next right password, which is then hashed again."""

    argon2_memory_kib: int = Field(default=19456, ge=19456, le=4 * 1024 * 1024)
    """Argon2id memory in KiB (at least 19 MiB). Raised, it reaches stored passwords as
    `argon2_time_cost` does."""

    customer_session_seconds: float = Field(default=60.0, gt=0, le=86400)
    """Idle lifetime of a customer session at a kiosk (the kiosk's idle timeout)."""

    token_lifetime_seconds: int = Field(default=600, ge=1, le=86400)
    """Lifetime of the completion JWT."""

    worker_threads: int = Field(default=8, ge=1, le=256)
    """Worker threads beside the event loop: SQLite writes, the HSM, device-signature checks.
    Argon2id has a pool of its own, one thread per CPU core."""

    pin_request_path: bool = False
    """Opt-in host tuning, off by default: run the event loop and its worker threads on one CPU (the
    one taking the disk's interrupts, where one does), Argon2id on every CPU (`signer.cpus`). The
    request path's threads then hand work to each other without waking another CPU; only one of
    them runs Python at a time anyway. Tuned on a 2-vCPU host, where it did about 7% more sign
    orders a second (docs/performance.md). Leave it off for several instances on one machine (they
    would all pick the same CPU) or where the request path, not Argon2id, limits the daemon."""

    gil_switch_interval_ms: float = Field(default=0.2, gt=0, le=100)
    """How long one thread of the daemon may hold Python's GIL while another waits for it, in ms
    (`sys.setswitchinterval`). Every SQLite statement lets go of the GIL and waits to get it back;
    at CPython's 5 ms a write transaction under load holds the writer's lock for milliseconds per
    statement, and the daemon completes about a third of the orders it does at 0.2 ms."""

    message_sender: str = "outbox"
    """Where SMS and e-mail go: `outbox` (the store, read with `tillit-signer outbox list`), or a
    gateway's `package.module:factory`, called with these settings, whose `send(message)` delivers."""

    rate_orders_per_number: int = Field(default=10, ge=0)
    """Orders (logins, signings, resets) and app activations one personal number may start per
    rate window, known or unknown; against push floods. 0: no limit."""

    rate_orders_per_kiosk: int = Field(default=300, ge=0)
    """Orders one kiosk token may start per rate window over all numbers; bounds how fast a kiosk
    token can probe who is a customer. 0: no limit."""

    rate_window_seconds: float = Field(default=60.0, gt=0, le=86400)
    """The sliding window of the two rate limits, in seconds."""

    activations_per_number_hour: int = Field(default=3, ge=0)
    """App activations one personal number may start per hour, known or unknown: each sends an SMS
    and an e-mail, or asks the old phone. 0: no limit."""

    activations_per_hour: int = Field(default=600, ge=0)
    """App activations all numbers together may start per hour: the cap on SMS, e-mail and pushes
    that anyone can cause without logging in. 0: no limit."""

    kiosk_blocks_per_hour: int = Field(default=5, ge=0)
    """Blocks one kiosk may make per hour without the customer's proof (a completed login of the
    customer on that kiosk): a lost phone at the counter, not a list of numbers. 0: no limit."""

    document_retention_days: float = Field(default=30.0, gt=0)
    """Days a signed document is kept after signing once the kiosk has fetched it (twice this when
    never fetched). Documents of orders that end unsigned are deleted when the order ends."""

    kiosk_storage_bytes: int = Field(default=500 * 1024 * 1024, ge=0)
    """Most document bytes one kiosk's orders may hold in the store at once (open orders and signed
    documents not yet past retention); a sign order beyond it is refused with 413 `storageQuota`.
    0: no limit."""

    maintenance_interval_seconds: float = Field(default=60.0, gt=0)
    """How often the daemon sweeps the store (`signer.retention`): abandoned orders expired,
    signed documents past retention deleted."""

    instance_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,64}$")
    """This instance's name in the orders it runs (a password check, a signing). Unset: a random one
    made once into home/instance-id. Instances sharing one home must each set their own."""

    lease_seconds: float = Field(default=30.0, ge=5)
    """How long an instance holds an order whose password check or signing it runs, renewed every
    third of it while the run lasts (a stalled HSM does not cost the lease). A restarting instance
    resumes only its own orders and those whose lease ran out (their runner died or froze); a
    running one looks for expired leases to take over every third of it."""

    audit_checkpoint_every: int = Field(default=100, ge=0)
    """Sign an audit checkpoint with the HSM's audit key after this many new entries (also at every
    clean shutdown and `audit export`). 0: only at shutdown and export."""

    audit_checkpoint_seconds: float = Field(default=60.0, ge=0)
    """Also sign one this often while entries are waiting for it, so that a quiet branch's last
    entries are not left for long where a database edit is not detected (docs/proofs.md). 0: by
    count only."""

    tls_cert: Path | None = None
    """PEM certificate chain for HTTPS on the daemon's port."""

    tls_key: Path | None = None
    """PEM private key for HTTPS."""

    log_json: bool = False
    """Write logs as JSON lines."""

    rp_port: int | None = Field(default=None, ge=0, le=65535)
    """Port of the BankID RP API v6.0 face (/rp/v6.0/..., docs/rp-api.md), HTTPS with client
    certificates from `tillit-signer rps add`, served by `serve` beside the main port. Unset or 0:
    the face is off."""

    rp_tls_cert: Path | None = None
    """PEM certificate chain of the RP face's server. Unset: home/rp-tls/cert.pem, issued by the
    Tillit CA for `rp_hostnames` when `serve` starts and it is missing or about to expire."""

    rp_tls_key: Path | None = None
    """PEM private key of the RP face's server (with `rp_tls_cert`). Unset: home/rp-tls/key.pem."""

    rp_hostnames: str = Field(default="localhost,127.0.0.1", min_length=1)
    """Names and addresses, separated by commas, the RP face's own certificate is issued for (the
    public host name the relying parties connect to)."""

    rp_qr_max_age_seconds: float = Field(default=10.0, gt=0)
    """How far a scanned QR code's time (seconds since the order started) may be from the real time
    since the start: an older code, say a photographed one, is refused (qrExpired)."""

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def max_body_bytes(self) -> int:
        """The largest body of a request with documents: `max_documents` documents of
        `max_document_bytes` each in base64 (4 KiB each for name and type), 64 KiB beside them."""
        return self.max_documents * (self.max_document_bytes * 4 // 3 + 4096) + 65536


def documented_toml() -> str:
    """Every setting with its default and meaning, as a TOML file an administrator can edit."""
    lines = [
        "# Tillit signer configuration: $TILLIT_CONFIG, or $TILLIT_HOME/tillit.toml.",
        "# Every setting is shown commented out with its default; TILLIT_<NAME> environment variables win.",
        "# PINs are not set here: TILLIT_HSM_PIN / TILLIT_HSM_SO_PIN, or the 0600 files `tillit-hsm init` writes.",
        "",
    ]
    fields = {**SignerSettings.model_fields, **HsmSettings.model_fields}
    for name, field in fields.items():
        if name in ("hsm_pin", "hsm_so_pin"):
            continue
        # Every line of a description commented: a bare continuation line would not parse as TOML.
        lines.extend(f"# {line}" for line in (field.description or "").splitlines())
        lines.append(f"# env: TILLIT_{name.upper()}")
        default = field.get_default(call_default_factory=False)
        if name == "home":
            lines.append('# home = "~/.local/share/tillit"')
        elif default is None:
            lines.append(f"# {name} =   (unset)")
        elif isinstance(default, bool):
            lines.append(f"# {name} = {str(default).lower()}")
        elif isinstance(default, int | float):
            lines.append(f"# {name} = {default}")
        else:
            lines.append(f'# {name} = "{default}"')
        lines.append("")
    return "\n".join(lines)


def effective_toml(settings: SignerSettings, hsm: HsmSettings) -> str:
    """The settings in effect (defaults, then the file, then `TILLIT_*` variables) as a TOML file,
    each value set by the file or a variable followed by which. PINs are left out, and a password
    in the database URL shown as ***."""
    path, named_by = SignerSettings.settings_file()
    in_file = read_toml(path, named_by)
    variables = {name.upper(): name for name in os.environ}
    lines = [
        f"# Tillit signer settings in effect: defaults, then {path}"
        f"{'' if path.exists() else ' (absent)'}, then TILLIT_* environment variables.",
        "# `tillit-signer config --defaults` prints every setting with its meaning.",
    ]
    values = {**settings.model_dump(), **hsm.model_dump(exclude={"home", "hsm_pin", "hsm_so_pin"})}
    for name, value in values.items():
        if name == "database_url" and value:
            value = without_password(value)
        variable = variables.get(f"TILLIT_{name.upper()}")
        source = f"  # {variable}" if variable else f"  # {path}" if name in in_file else ""
        if name == "instance_id" and value is None:
            source = _instance_file_note(settings.home)
        lines.append(f"# {name} =   (unset){source}" if value is None else f"{name} = {_toml_value(value)}{source}")
    return "\n".join(lines) + "\n"


def _instance_file_note(home: Path) -> str:
    """For `config`: the id an unset `instance_id` stands for, read from the home (made there by the
    first daemon or command that needed it; `signer.leases.instance_id`)."""
    try:
        made = (home / INSTANCE_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return f"  # the first start makes one in home/{INSTANCE_FILE}"
    return f"  # in use: {made!r}, from {home / INSTANCE_FILE}"


_PASSWORD_PARAMETER = re.compile(r"(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s]*)")


def without_password(url: str) -> str:
    """A database URL or libpq connection string with any password in it shown as ***: in the
    user part (`user:secret@`), as a parameter (`?password=secret`, `password=secret`). What `config`
    prints, and a refused value's error, may be pasted anywhere."""
    shown = _PASSWORD_PARAMETER.sub(r"\1***", url)
    try:
        parts = urlsplit(shown)
        password = parts.password
    except ValueError:  # not a URL (a malformed port, say): the parameters are hidden already
        return shown
    if password is None:
        return shown
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + parts.netloc.rpartition("@")[2]))


def _toml_value(value: object) -> str:
    """A TOML literal for a bool, number, text or path."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    # A JSON string is a TOML basic string, but for DEL, which TOML wants escaped.
    return json.dumps(str(value)).replace("\x7f", "\\u007f")
