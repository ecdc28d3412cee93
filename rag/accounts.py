"""Accounts for a shared deployment: users with salted password hashes and a role each.

The accounts file has one account a line, ``name:role:pbkdf2_sha256$iterations$salt$hash``
(``#`` starts a comment). Readers may ask; editors may also add and remove documents.
Passwords are never stored: PBKDF2-HMAC-SHA256 with a random salt, compared in
constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from .errors import RagError

ROLES = ("reader", "editor")
#: OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256.
ITERATIONS = 600_000
_SCHEME = "pbkdf2_sha256"


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    password_hash: str

    @property
    def can_edit(self) -> bool:
        return self.role == "editor"


def hash_password(password: str, iterations: int = ITERATIONS) -> str:
    salt = secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), iterations).hex()
    return f"{_SCHEME}${iterations}${salt}${digest}"


def check_password(password: str, password_hash: str) -> bool:
    try:
        scheme, iterations, salt, digest = password_hash.split("$")
        if scheme != _SCHEME:
            return False
        actual = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), int(iterations)).hex()
    except ValueError:
        return False
    return hmac.compare_digest(actual, digest)


def load_accounts(path: Path) -> dict[str, Account]:
    """Read an accounts file.

    Raises:
        RagError: the file is missing or a line is malformed (naming the line).
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise RagError(f"cannot read the accounts file {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    accounts: dict[str, Account] = {}
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) != 3 or not parts[0] or parts[1] not in ROLES or not parts[2].startswith(_SCHEME + "$"):
            raise RagError(f"{path}, line {number}: expected name:{'|'.join(ROLES)}:{_SCHEME}$…")
        accounts[parts[0]] = Account(*parts)
    if not accounts:
        raise RagError(f"{path} holds no account; add one with `python -m rag account NAME --role editor`")
    return accounts


def save_account(path: Path, name: str, role: str, password: str) -> None:
    """Add or replace one account in the file (created with mode 0600)."""
    if not name or ":" in name or name != name.strip():
        raise RagError("an account name is non-empty, without ':' or surrounding spaces")
    if role not in ROLES:
        raise RagError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise RagError("a password has at least 8 characters")
    try:
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        lines = [line for line in lines if line.split(":", 1)[0] != name]
        lines.append(f"{name}:{role}:{hash_password(password)}")
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        os.replace(tmp, path)
    except (OSError, UnicodeDecodeError) as exc:
        raise RagError(f"cannot write the accounts file {path}: {getattr(exc, 'strerror', None) or exc}") from exc
