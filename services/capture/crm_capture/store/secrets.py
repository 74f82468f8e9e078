"""Mailbox passwords encrypted at rest with a key from the environment (Fernet: AES-128-CBC
with an HMAC-SHA256, from `cryptography`).

`CAPTURE_SECRET_KEY` (the key itself) or `CAPTURE_SECRET_KEY_FILE` (a file holding it);
production requires one of them. In development a key is generated once into
`<data dir>/capture-secret.key` (mode 0600). Losing the key loses the stored passwords
(users connect their mailboxes again); rotating it: `CAPTURE_SECRET_KEY` may list several
keys separated by commas, the first encrypts, any decrypts (`MultiFernet`).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from crm_kit.auth import development_mode
from crm_kit.paths import data_dir, write_once

KEY_ENV = "CAPTURE_SECRET_KEY"
KEY_FILE_ENV = "CAPTURE_SECRET_KEY_FILE"


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with the configured keys."""


def _keys() -> list[str]:
    configured = os.environ.get(KEY_ENV)
    if configured:
        return [k.strip() for k in configured.split(",") if k.strip()]
    path_setting = os.environ.get(KEY_FILE_ENV)
    if path_setting:
        return [k.strip() for k in Path(path_setting).read_text().split(",") if k.strip()]
    if not development_mode():
        raise RuntimeError(f"{KEY_ENV} or {KEY_FILE_ENV} must be set in production")
    return [write_once(data_dir() / "capture-secret.key", Fernet.generate_key().decode())]


class FernetBox:
    def __init__(self, keys: list[str] | None = None) -> None:
        self._fernet = MultiFernet([Fernet(key.encode()) for key in (keys or _keys())])

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable("the stored secret does not decrypt with this key") from None
