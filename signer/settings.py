"""The signer's configuration: a TOML file plus `TILLIT_*` environment variables (these win)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from hsm.settings import default_home


def _config_file() -> Path:
    explicit = os.environ.get("TILLIT_CONFIG")
    if explicit:
        return Path(explicit)
    home = Path(os.environ.get("TILLIT_HOME") or default_home())
    return home / "tillit.toml"


class SignerSettings(BaseSettings):
    """Settings of `tillit-signer`. File: $TILLIT_CONFIG or $TILLIT_HOME/tillit.toml."""

    model_config = SettingsConfigDict(env_prefix="TILLIT_", extra="ignore")

    home: Path = Field(default_factory=default_home)
    """Data directory: SoftHSM config and tokens, database, CA ledger."""

    database_url: str | None = None
    """Unset: SQLite at home/signer.db. `postgresql://...` for several instances."""

    host: str = "127.0.0.1"
    """Address `serve` listens on."""

    port: int = 8700
    """Port `serve` listens on."""

    public_url: str | None = None
    """Base URL written into certificates (CRL, OCSP); default http://host:port."""

    allow_test_numbers: bool = False
    """Accept synthetic test numbers (month + 80). Never in production."""

    order_ttl_seconds: float = 180.0
    """How long an order lives."""

    max_document_bytes: int = 10 * 1024 * 1024
    """Largest document in a sign order, after base64 decoding."""

    max_documents: int = 10
    """Most documents in one sign order."""

    password_attempts: int = 5
    """Wrong passwords in a row before the password locks."""

    argon2_time_cost: int = 2
    """Argon2id iterations (at least 2)."""

    argon2_memory_kib: int = 19456
    """Argon2id memory in KiB (at least 19 MiB)."""

    customer_session_seconds: float = 60.0
    """Idle lifetime of a customer session at a kiosk (the kiosk's idle timeout)."""

    token_lifetime_seconds: int = 600
    """Lifetime of the completion JWT."""

    worker_threads: int = 8
    """Threads for Argon2 and HSM work (off the event loop)."""

    tls_cert: Path | None = None
    """PEM certificate chain for HTTPS on the daemon's port."""

    tls_key: Path | None = None
    """PEM private key for HTTPS."""

    log_json: bool = False
    """Write logs as JSON lines."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, _config_file()))

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def max_body_bytes(self) -> int:
        return self.max_documents * (self.max_document_bytes * 4 // 3 + 4096) + 65536
