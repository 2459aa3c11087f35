"""The instance id an instance records in the orders it runs (tillit/signer/leases.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tillit.signer.leases import INSTANCE_FILE, instance_id


def test_one_id_per_home_made_once_and_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ThreadPoolExecutor(8) as pool:  # started together, they agree on the first one written
        ids = set(pool.map(lambda _: instance_id(None, home), range(32)))
    assert len(ids) == 1 and all(ids)
    assert instance_id(None, home) in ids
    assert (home / INSTANCE_FILE).stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in home.iterdir()) == [INSTANCE_FILE]  # no draft left behind
    assert instance_id(None, tmp_path / "another-home") not in ids


def test_the_setting_wins_over_the_file(tmp_path: Path) -> None:
    instance_id(None, tmp_path)
    assert instance_id("signer-b", tmp_path) == "signer-b"
