"""Where the HSM is and how to log in to it."""

from __future__ import annotations

import fcntl
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from tillit.config import FileSettings, given_home, known_database_url
from tillit.hsm.errors import WrongPin

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def default_home() -> Path:
    return Path.home() / ".local" / "share" / "tillit"


# Everything Tillit writes under TILLIT_HOME (PIN files, the token store, the database, the outbox)
# is for this user alone, whatever the umask: the command-line tools start with this umask.
PRIVATE_UMASK = 0o077


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) readable by this user alone; tighten it if it exists looser."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty if missing, readable by this user alone; tighten it if it exists looser."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return path


@contextmanager
def held_lock_file(path: Path, wait: bool = True) -> Iterator[None]:
    """Hold an exclusive flock on the private file `path` (made if missing) until the block ends:
    one process (or thread, each with its own open file) at a time, on this machine. Without `wait`,
    BlockingIOError when another holds it."""
    with open(private_file(path), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield  # released when the file closes


CONFIG_VARIABLE = "TILLIT_CONFIG"


def config_file() -> Path:
    """The TOML file shared by all Tillit settings: $TILLIT_CONFIG, else $TILLIT_HOME/tillit.toml."""
    explicit = os.environ.get(CONFIG_VARIABLE)
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("TILLIT_HOME") or default_home()) / "tillit.toml"


class TillitSettings(FileSettings):
    """Base: `TILLIT_*` environment variables first, then the TOML file shared by the signer and
    the HSM tools (`tillit.config` says what a mistake in them does). Keys of the file a class does
    not read are left alone here: the HSM's classes cannot know the signer's keys (hsm imports no
    signer), so `SignerSettings`, which knows both, refuses unknown keys."""

    model_config = SettingsConfigDict(env_prefix="TILLIT_", extra="ignore", use_attribute_docstrings=True)

    @classmethod
    def settings_file(cls) -> tuple[Path, str | None]:
        return config_file(), CONFIG_VARIABLE if os.environ.get(CONFIG_VARIABLE) else None

    @classmethod
    def file_keys(cls) -> set[str] | None:
        return None


class HsmSettings(TillitSettings):
    """HSM settings."""

    home: Path = Field(default_factory=default_home)
    """Data directory: SoftHSM config and tokens, PIN files, database."""

    _given_home = field_validator("home", mode="before")(given_home)

    database_url: str | None = None
    """Unset: SQLite at home/signer.db, the CA ledger at home/ca.db. `postgresql://...` for several
    instances: the signer's data and the CA ledger in that database, on every machine. Anything but
    those and `sqlite:///PATH` is refused (`tillit.config.known_database_url`)."""

    _known_database = field_validator("database_url")(known_database_url)

    pkcs11_module: str | None = None
    """Path of a PKCS#11 module; unset means SoftHSM with its config and tokens in `home`."""

    token_label: str = "tillit"  # noqa: S105 - a label, not a secret
    """Label of the token to use (slots are renumbered by SoftHSM, labels are stable)."""

    token_serial: str | None = None
    """Serial of the token, when labels are not unique on the module."""

    hsm_pin: SecretStr | None = None
    """User PIN; unset means the 0600 file `home/hsm-pin` written by `tillit-hsm init`."""

    hsm_so_pin: SecretStr | None = None
    """Security officer PIN; unset means `home/hsm-so-pin`."""

    @property
    def uses_softhsm(self) -> bool:
        return self.pkcs11_module is None

    @property
    def module_path(self) -> str:
        return self.pkcs11_module or SOFTHSM_MODULE

    @property
    def softhsm_conf(self) -> Path:
        return self.home / "softhsm2.conf"

    def user_pin(self) -> str:
        return _pin(self.hsm_pin, self.home / "hsm-pin", "TILLIT_HSM_PIN")

    def user_pin_source(self) -> str:
        """Where `user_pin` comes from, for an error about it (never the PIN)."""
        return "TILLIT_HSM_PIN" if self.hsm_pin is not None else str(self.home / "hsm-pin")

    def so_pin(self) -> str:
        return _pin(self.hsm_so_pin, self.home / "hsm-so-pin", "TILLIT_HSM_SO_PIN")

    def ensure_pin_files(self) -> None:
        """Write random PINs to 0600 files for whichever PIN the environment does not give."""
        private_dir(self.home)
        for value, name in ((self.hsm_pin, "hsm-pin"), (self.hsm_so_pin, "hsm-so-pin")):
            path = self.home / name
            if value is None and not path.exists():
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(f"{secrets.randbelow(10**8):08d}\n")


def _pin(value: SecretStr | None, path: Path, env: str) -> str:
    if value is not None:
        return value.get_secret_value()
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        raise WrongPin(
            f"no PIN: set {env} (for a token made elsewhere, the PIN `tillit-hsm init` wrote to {path.name}"
            f" there), or run `tillit-hsm init` to make a new token and {path}"
        ) from None
