"""Which instance runs an order's password check or signing, and until when (its lease).

Several instances share one database (docs/operations.md, "Running several instances"). An order
moving into `verifying` or `signing` records the instance that moved it (`Order.runner`, this
instance's id) and `lease_seconds` from then (`Order.lease_until`), longer than any check or signing
takes. At start an instance resumes or undoes only the orders whose runner is itself (it died while
running them) or whose lease ran out (their runner died); while it serves, each maintenance sweep
takes over the expired leases of others. An order whose runner is alive is never touched, so a
restart does not run another instance's signing a second time.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from pathlib import Path

from tillit.hsm.settings import private_dir

INSTANCE_FILE = "instance-id"


def instance_id(configured: str | None, home: Path) -> str:
    """This instance's id: `configured` (the `instance_id` setting) when set, else the one in
    `home`/instance-id, made there once (this host's name and random hex) on first use."""
    if configured:
        return configured
    path = home / INSTANCE_FILE
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    private_dir(home)
    host = re.sub(r"[^A-Za-z0-9-]", "", socket.gethostname().split(".")[0])[:40] or "tillit"
    made = f"{host}-{secrets.token_hex(6)}"
    # Written whole under another name, then linked into place: two processes starting at once
    # agree on the first one linked, and neither reads a half-written file.
    draft = home / f".{INSTANCE_FILE}.{secrets.token_hex(4)}"
    with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as f:
        f.write(made + "\n")  # this user's alone, like everything under TILLIT_HOME
    try:
        os.link(draft, path)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    finally:
        draft.unlink()
    return made
