"""The migration files and their loader: the released scripts stay as they were, in number order."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tillit.signer.store import migrations
from tillit.signer.store.migrations import MIGRATIONS, load_migrations

# SHA-256 of migrations 1-9 as the MIGRATIONS list in signer/store.py held them when they moved to
# files. A database at version N has run exactly these; a changed script would leave it different
# from a new database at the same version. Later migrations are added below as they are released.
RELEASED = [
    "fd4924990b7aa937f4db2de14623d9bb23499e49af65e9782ded34dbcb4fa555",
    "d963e747393c5fd031706d5004efd0c43c06cb637f21b15eecf77a5a2f44ec39",
    "ef0e48b45496ab9cd08baebd0a7a1cd33edde80650b5cd1a9a54f9a8acea042e",
    "9bc75e4f97487723baa8d4e2f52e87f59f0cfe12112e6f8c6b58f61499773a28",
    "658dc2273a1b7a8744b0e2634f7dfe4363f209a1417b1d3415e7e7d51550e270",
    "7dbffafb6e783cab1e8046ea57324cd31b53941880052649ec996b4d6bdfcc18",
    "78f61dfba3c4da37494774129a6aada0c9d4c6db0d9ac4635c50e8d0397352ed",
    "420de9c6acc060690c76affa7c7af3fdde0f9efc6b346d5e72484ef43aea8586",
    "d580c459863c6f0d5a4946cf024e305a18750e108e6efd84f62b7c657571cb18",
]
PACKAGE_DIR = Path(migrations.__file__).parent
REPOSITORY = PACKAGE_DIR.parents[3]


def test_released_migrations_are_byte_for_byte_what_databases_ran() -> None:
    assert len(MIGRATIONS) >= len(RELEASED)
    assert [hashlib.sha256(s.encode()).hexdigest() for s in MIGRATIONS[: len(RELEASED)]] == RELEASED


def test_each_file_opens_with_what_it_is_for_and_the_script_has_no_comments() -> None:
    sql_files = sorted(PACKAGE_DIR.glob("*.sql"))
    assert len(sql_files) == len(MIGRATIONS)
    for path, script in zip(sql_files, MIGRATIONS, strict=True):
        assert path.read_text(encoding="utf-8").startswith("-- "), path.name
        assert "--" not in script, path.name  # the stores split scripts on ";": a comment may hold one


def write(folder: Path, names: list[str]) -> Path:
    for name in names:
        (folder / name).write_text(f"-- {name}\n\nCREATE TABLE t{name[:4]} (id TEXT);\n", encoding="utf-8")
    return folder


def test_files_load_in_number_order_and_other_files_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, ["0010_tenth.sql", "0002_second.sql", "0001_first.sql"])
    write(tmp_path, [f"{number:04d}_more.sql" for number in range(9, 2, -1)])
    (tmp_path / "README.txt").write_text("not a migration", encoding="utf-8")
    (tmp_path / "0011_draft.sql.orig").write_text("not a migration", encoding="utf-8")
    scripts = load_migrations(tmp_path)
    assert [s.split()[2] for s in scripts] == [f"t{n:04d}" for n in range(1, 11)]
    assert scripts[0] == "\nCREATE TABLE t0001 (id TEXT);\n"


@pytest.mark.parametrize(
    "names",
    [["0001_a.sql", "0003_c.sql"], ["0001_a.sql", "0002_b.sql", "0002_also_b.sql"], ["0002_b.sql"]],
    ids=["gap", "two with one number", "not from one"],
)
def test_numbers_with_a_gap_or_a_repeat_are_refused(tmp_path: Path, names: list[str]) -> None:
    with pytest.raises(ValueError, match="numbered 1 to"):
        load_migrations(write(tmp_path, names))


def test_an_installed_tillit_without_a_source_tree_finds_them(tmp_path: Path) -> None:
    """Read through importlib.resources: from a zip (as from a wheel) there is no folder to list."""
    archive = tmp_path / "tillit.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in [REPOSITORY / "tillit" / "__init__.py", REPOSITORY / "tillit" / "signer" / "__init__.py"]:
            zipped.write(path, path.relative_to(REPOSITORY).as_posix())
        for path in (REPOSITORY / "tillit" / "signer" / "store").rglob("*"):
            if path.suffix in (".py", ".sql"):
                zipped.write(path, path.relative_to(REPOSITORY).as_posix())
    probe = (
        "import hashlib, sys; sys.path.insert(0, sys.argv[1]);"
        "from tillit.signer.store import migrations as m; assert m.__file__.startswith(sys.argv[1]), m.__file__;"
        "print(hashlib.sha256(repr(m.MIGRATIONS).encode()).hexdigest())"
    )
    # -S: without site-packages, so the editable install's finder cannot answer from the checkout
    found = subprocess.run(
        [sys.executable, "-S", "-c", probe, str(archive)], capture_output=True, text=True, check=True, timeout=60
    )
    assert found.stdout.strip() == hashlib.sha256(repr(MIGRATIONS).encode()).hexdigest()
