"""A relying party of the kit's signer, for testing a service's BankID code (RP API v6.0) against it."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True)
class TillitRelyingParty:
    """A relying party on the signer's BankID RP API face, made by `tillit-signer rps add`.

    `name` is what the phone shows as the requester; `cert` and `key` are its client certificate
    and key (PEM files, the key without a passphrase); `ca` is the CA file to trust for the face's
    server certificate; `url` is the face's base URL, `https://127.0.0.1:<port>/rp/v6.0/` (with the
    trailing slash: `url + "auth"` is the auth endpoint).
    """

    name: str
    cert: Path
    key: Path
    ca: Path
    url: str

    @property
    def certificates(self) -> tuple[str, str]:
        """(certificate, key) paths as text: what pybankid's `BankIDClient(certificates=...)` takes."""
        return str(self.cert), str(self.key)

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context that trusts `ca` and presents the RP's certificate."""
        context = ssl.create_default_context(cafile=str(self.ca))
        context.load_cert_chain(str(self.cert), str(self.key))
        return context

    def client(self, timeout: float = 30) -> httpx.Client:
        """An HTTP client for the RP API: base URL `url`, the RP's certificate presented, `ca` trusted;
        `timeout` in seconds for each request. Close it, or use `with`."""
        return httpx.Client(base_url=self.url, verify=self.ssl_context(), timeout=timeout)
