"""Signed tokens for links in emails (unsubscribe, confirm)."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from itsdangerous import BadSignature, URLSafeSerializer

from nocturne_crawl.config import Config


class InvalidToken(ValueError):
    """The token was tampered with, or was made for another purpose or install."""


_KEYS_READ: dict[Path, str] = {}


def secret_key(config: Config) -> str:
    """`NOCTURNE_SECRET_KEY`, or a random key kept in the data folder (made on first use)."""
    if config.secret_key:
        return config.secret_key
    path = Path(config.data_dir) / "secret_key"
    known = _KEYS_READ.get(path)
    if known is not None:
        return known
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = None
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, secrets.token_urlsafe(48).encode())
        except FileExistsError:
            pass  # another process made it first; use theirs
        finally:
            if fd is not None:
                os.close(fd)
    key = path.read_text().strip()
    _KEYS_READ[path] = key  # the file never changes once made: read it once per process
    return key


@lru_cache(maxsize=32)
def _serializer_for(key: str, purpose: str) -> URLSafeSerializer:
    # Cached: a digest run signs one unsubscribe token per mail, thousands a run.
    return URLSafeSerializer(key, salt=f"nocturne-{purpose}")


def _serializer(config: Config, purpose: str) -> URLSafeSerializer:
    return _serializer_for(secret_key(config), purpose)


def make_token(config: Config, purpose: str, subscription_id: int, email: str) -> str:
    return _serializer(config, purpose).dumps({"s": subscription_id, "e": email})


def read_token(config: Config, purpose: str, token: str) -> tuple[int, str]:
    """(subscription id, email) from a token, or InvalidToken."""
    try:
        data = _serializer(config, purpose).loads(token)
    except BadSignature:
        raise InvalidToken("invalid or tampered token") from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("s"), int)
        or not isinstance(data.get("e"), str)
    ):
        raise InvalidToken("invalid token")
    return data["s"], data["e"]
