"""Webhook signing secrets encrypted at rest (``webhook_secrets.secret``).

A subscription's signing secret is shown once, when it is created or rotated, and
otherwise only ever read by the delivery worker to sign. In the database it is a Fernet
token (AES-128-CBC with HMAC-SHA256, from ``cryptography``), prefixed ``fernet:``, under
the keys of ``TRELLIS_NOTIFICATIONS_WEBHOOK_SECRET_KEYS``: a comma-separated list, newest
first. Each entry is any high-entropy string (``openssl rand -hex 32``); the Fernet key is
derived from it with SHA-256, so no special format is needed.

Rotating the key (see docs/operations.md):

1. Add the new key *second* and roll every instance (all can read both, none writes it).
2. Move it *first* and roll again: new secrets are written under it, and each instance, at
   start, re-encrypts every stored secret not yet under the first key.
3. Once every instance runs with it first, drop the old key.

A row written before encryption existed (no ``fernet:`` prefix) is read as it is and
encrypted at the next start.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from trellis.notifications.tables import webhook_secrets

PREFIX = "fernet:"
# the embedded development run's key; refused anywhere else (``development_values``)
DEV_WEBHOOK_SECRET_KEY = "trellis-dev-webhook-secret-key-change-me-in-production"


class UnreadableSecret(Exception):
    """A stored secret none of the configured keys opens (a key was dropped too early)."""


class SecretBox:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one webhook secret key is needed")
        self.fernets = [Fernet(base64.urlsafe_b64encode(hashlib.sha256(k.encode()).digest())) for k in keys]
        self.box = MultiFernet(self.fernets)

    @classmethod
    def from_setting(cls, value: str) -> SecretBox:
        return cls([k.strip() for k in value.split(",") if k.strip()])

    def seal(self, secret: str) -> str:
        return PREFIX + self.box.encrypt(secret.encode()).decode()

    def open(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # written before encryption: sealed at the next start
        try:
            return self.box.decrypt(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise UnreadableSecret("no configured webhook secret key opens this secret") from exc

    def current(self, stored: str) -> bool:
        """Whether ``stored`` is sealed under the first (newest) key."""
        if not stored.startswith(PREFIX):
            return False
        try:
            self.fernets[0].decrypt(stored[len(PREFIX) :].encode())
        except InvalidToken:
            return False
        return True

    async def reseal_all(self, sessions: async_sessionmaker[AsyncSession]) -> int:
        """Seal every stored secret under the first key (the ones that are not); how many."""
        c = webhook_secrets.c
        resealed = 0
        async with sessions() as session, session.begin():
            for row_id, stored in (await session.execute(select(c.id, c.secret))).all():
                if not self.current(stored):
                    fresh = self.seal(self.open(stored))
                    await session.execute(update(webhook_secrets).where(c.id == row_id).values(secret=fresh))
                    resealed += 1
        return resealed
