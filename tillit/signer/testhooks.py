"""Fault injection for the test suite, only when the daemon runs with TILLIT_TEST_HOOKS=1.

Never registered otherwise (and never in the OpenAPI document). Used by tests/proofs to close the
daemon's PKCS#11 sessions under it, as a token reset or an HSM failover would.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI

from tillit.signer.service import Signer

ENV = "TILLIT_TEST_HOOKS"


def enabled() -> bool:
    return os.environ.get(ENV) == "1"


def install(app: FastAPI, signer: Signer) -> None:
    @app.post("/test/hsm/close-sessions", include_in_schema=False)
    def close_sessions() -> dict[str, Any]:
        """C_CloseAllSessions on the daemon's slot, behind the HSM layer's back."""
        return {"rv": signer.hsm.close_all_sessions()}

    @app.get("/test/hsm/stats", include_in_schema=False)
    def stats() -> dict[str, Any]:
        return {"recoveries": signer.hsm.recoveries, "resets": signer.hsm.resets, "signatures": signer.hsm.signatures}
