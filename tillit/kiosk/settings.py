"""The kiosk's configuration: a TOML file plus `TILLIT_KIOSK_*` environment variables (these win).

File: $TILLIT_KIOSK_CONFIG, else $TILLIT_HOME/kiosk.toml (when it exists). Example:

    signer_url = "http://127.0.0.1:8700"
    token_file = "/etc/tillit/kiosk.token"
    idle_seconds = 60
    language = "nn"
    time_zone = "Europe/Oslo"
    output_dir = "/srv/tillit/signed"
"""

from __future__ import annotations

import os
from datetime import tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from tillit.config import FileSettings, warn_unknown_variables
from tillit.kiosk.i18n import Language

CONFIG_VARIABLE = "TILLIT_KIOSK_CONFIG"


def tillit_home() -> Path:
    """$TILLIT_HOME, or the same default as the signer's (~/.local/share/tillit)."""
    return Path(os.environ.get("TILLIT_HOME") or Path.home() / ".local" / "share" / "tillit")


def config_file() -> Path:
    explicit = os.environ.get(CONFIG_VARIABLE)
    return Path(explicit) if explicit else tillit_home() / "kiosk.toml"


class KioskSettings(FileSettings):
    """Settings of `tillit-kiosk`; a mistake in the file or a variable is one line (`tillit.config`)."""

    model_config = SettingsConfigDict(env_prefix="TILLIT_KIOSK_", extra="ignore", populate_by_name=True)

    signer_url: str = "http://127.0.0.1:8700"
    """Base URL of the signer's HTTP API."""

    token: SecretStr | None = None
    """The kiosk's bearer token (`tillit-signer kiosks add`); prefer `token_file`."""

    token_file: Path | None = None
    """A file holding the kiosk's bearer token (first line)."""

    idle_seconds: float = Field(default=60.0, gt=0)
    """Idle time after which the kiosk returns to the welcome screen and forgets the customer."""

    idle_warning_seconds: float = Field(default=15.0, ge=0)
    """How long before the idle timeout a customer with something to lose (logged in, or an order open) is
    warned, with a countdown; any key keeps everything. At most half of `idle_seconds`."""

    language: Language = "nn"
    """Language on the welcome screen: nn (Nynorsk), nb (Bokmål) or en (English)."""

    time_zone: str = "Europe/Oslo"
    """The time zone of the times a customer is shown (the receipt's "Signed"), an IANA name: the
    branch's own, whatever zone the computer runs in (a container's is often UTC)."""

    output_dir: Path | None = None
    """Folder the signed PDFs are written to; unset means $TILLIT_HOME/signed."""

    admin_pin: SecretStr | None = None
    """The administrator's PIN that lets the kiosk be closed (F12). Unset: the kiosk cannot be closed from inside."""

    poll_seconds: float = Field(default=0.5, gt=0)
    """How often the kiosk asks the signer (collect) whether the customer has answered on the phone."""

    hint_after_seconds: float = Field(default=5.0, ge=0)
    """How long the kiosk waits for the phone before showing the "No response?" hint."""

    timeout_seconds: float = Field(default=30.0, gt=0)
    """HTTP timeout for one call to the signer (a sign order's password call includes the signing)."""

    allow_test_numbers: bool = Field(
        default=False, validation_alias=AliasChoices("TILLIT_KIOSK_ALLOW_TEST_NUMBERS", "TILLIT_ALLOW_TEST_NUMBERS")
    )
    """Accept synthetic test numbers (month + 80); from TILLIT_ALLOW_TEST_NUMBERS like the signer's."""

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not a known time zone: an IANA name such as Europe/Oslo") from None
        return value

    def zone(self) -> tzinfo:
        """`time_zone` as a tzinfo."""
        return ZoneInfo(self.time_zone)

    @classmethod
    def settings_file(cls) -> tuple[Path, str | None]:
        return config_file(), CONFIG_VARIABLE if os.environ.get(CONFIG_VARIABLE) else None

    @classmethod
    def warn_about_environment(cls) -> None:
        # TILLIT_KIOSK_DEMO_PORT: `tillit-kiosk demo` reads it itself.
        names = {f"TILLIT_KIOSK_{name}" for name in cls.model_fields}
        warn_unknown_variables("TILLIT_KIOSK_", names, (CONFIG_VARIABLE, "TILLIT_KIOSK_DEMO_PORT"))

    def kiosk_token(self) -> str | None:
        if self.token is not None:
            return self.token.get_secret_value().strip()
        if self.token_file is not None:
            lines = self.token_file.read_text().splitlines()
            return lines[0].strip() if lines else None
        return None

    def signed_folder(self) -> Path:
        return self.output_dir or tillit_home() / "signed"
