"""Accounts for a shared deployment: hashed passwords, roles, a file an operator edits."""

from pathlib import Path

import pytest

from rag.accounts import check_password, hash_password, load_accounts, save_account
from rag.errors import RagError


def test_a_password_is_stored_salted_and_checked_in_constant_time():
    first, second = hash_password("correct horse", iterations=1000), hash_password("correct horse", iterations=1000)
    assert first != second and "correct horse" not in first  # salted, never the password
    assert check_password("correct horse", first) and not check_password("correct horse!", first)
    assert not check_password("x", "md5$1$00$00") and not check_password("x", "garbage")


def test_accounts_are_saved_with_private_permissions_and_replaced_by_name(tmp_path: Path):
    path = tmp_path / "accounts.txt"
    save_account(path, "ada", "editor", "first password")
    save_account(path, "bob", "reader", "second password")
    save_account(path, "ada", "reader", "third password")
    accounts = load_accounts(path)
    assert sorted(accounts) == ["ada", "bob"]
    assert accounts["ada"].role == "reader" and not accounts["ada"].can_edit
    assert check_password("third password", accounts["ada"].password_hash)
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("name", "role", "password", "message"),
    [
        ("a:b", "reader", "long enough", "without ':'"),
        ("ada", "admin", "long enough", "role"),
        ("ada", "reader", "short", "8"),
    ],
)
def test_bad_accounts_are_refused(tmp_path: Path, name, role, password, message):
    with pytest.raises(RagError, match=message):
        save_account(tmp_path / "a.txt", name, role, password)


def test_a_malformed_accounts_file_names_the_line(tmp_path: Path):
    path = tmp_path / "accounts.txt"
    path.write_text("# team\nada:editor:pbkdf2_sha256$1$00$00\nbob:root:plain\n")
    with pytest.raises(RagError, match="line 3"):
        load_accounts(path)
    with pytest.raises(RagError, match="cannot read"):
        load_accounts(tmp_path / "missing.txt")
