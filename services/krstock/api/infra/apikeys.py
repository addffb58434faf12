"""API keys: generated with high entropy, shown once, stored as a SHA-256 hash, revocable.

A key looks like ``ks_<prefix>_<secret>``. The prefix (public, unique) finds the row; the hash of
the whole key is compared in constant time. Scopes nest: ``admin`` ⊃ ``write`` ⊃ ``read``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from krstock.db.models import ApiKey

SCOPES = ("read", "write", "admin")
_IMPLIED = {"read": {"read"}, "write": {"read", "write"}, "admin": {"read", "write", "admin"}}
KEY_PREFIX = "ks"


class ApiKeyError(ValueError):
    """Bad input to key management (unknown scope, duplicate name, unknown key)."""


@dataclass(frozen=True)
class KeyRecord:
    id: int
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def grants(self, scope: str) -> bool:
        return any(scope in _IMPLIED.get(s, set()) for s in self.scopes)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "scopes": list(self.scopes),
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
        }


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_scopes(raw: str | list[str]) -> tuple[str, ...]:
    items = raw.split(",") if isinstance(raw, str) else raw
    scopes = tuple(dict.fromkeys(s.strip().lower() for s in items if s.strip()))
    if not scopes:
        raise ApiKeyError("at least one scope is needed (read, write, admin)")
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise ApiKeyError(f"unknown scope(s) {', '.join(unknown)}; use read, write, admin")
    return scopes


def split_key(key: str) -> str | None:
    """The prefix of a well-formed key, else None."""
    parts = key.split("_", 2)  # the secret (urlsafe base64) may itself contain "_"
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 8 or len(parts[2]) < 32:
        return None
    return parts[1]


def _record(row: ApiKey) -> KeyRecord:
    return KeyRecord(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        scopes=tuple(row.scopes),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def create_key(session: Session, name: str, scopes: str | list[str]) -> tuple[str, KeyRecord]:
    """Create a key; returns the plaintext (shown once) and its record."""
    name = name.strip()
    if not name or len(name) > 128:
        raise ApiKeyError("name must be 1-128 characters")
    parsed = parse_scopes(scopes)
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(name=name, prefix=prefix, key_hash=hash_key(key), scopes=list(parsed))
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise ApiKeyError(f"an API key named {name!r} already exists") from exc
    session.refresh(row)
    return key, _record(row)


def list_keys(session: Session) -> list[KeyRecord]:
    return [_record(r) for r in session.scalars(select(ApiKey).order_by(ApiKey.id))]


def revoke_key(session: Session, name_or_prefix: str) -> KeyRecord:
    row = session.scalars(
        select(ApiKey).where((ApiKey.name == name_or_prefix) | (ApiKey.prefix == name_or_prefix))
    ).first()
    if row is None:
        raise ApiKeyError(f"no API key named or prefixed {name_or_prefix!r}")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        session.flush()
    KeyVerifier.forget_all()
    return _record(row)


@dataclass(frozen=True)
class Verdict:
    record: KeyRecord | None
    reason: str  # "ok", "malformed", "unknown", "revoked"


class KeyVerifier:
    """Checks presented keys against the database, with a short in-process cache.

    The cache (a few seconds) keeps a hot key from costing a query per request; revocation
    through this process clears it at once, and other processes see it within ``ttl_s``.
    """

    _instances: ClassVar[list[KeyVerifier]] = []

    def __init__(self, engine: Engine, ttl_s: float = 5.0) -> None:
        self.engine = engine
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, Verdict]] = {}
        self._lock = threading.Lock()
        self._last_touch: dict[int, float] = {}
        KeyVerifier._instances.append(self)

    @classmethod
    def forget_all(cls) -> None:
        for verifier in cls._instances:
            with verifier._lock:
                verifier._cache.clear()

    def verify(self, key: str) -> Verdict:
        prefix = split_key(key)
        if prefix is None:
            return Verdict(None, "malformed")
        digest = hash_key(key)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
        if hit and now - hit[0] < self.ttl_s:
            return hit[1]
        with Session(self.engine) as session:
            row = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()
            if row is None or not hmac.compare_digest(row.key_hash, digest):
                verdict = Verdict(None, "unknown")
            elif row.revoked_at is not None:
                verdict = Verdict(_record(row), "revoked")
            else:
                verdict = Verdict(_record(row), "ok")
                # last_used_at at most once a minute per key: a write per request would be costly.
                if now - self._last_touch.get(row.id, -1e9) > 60:
                    self._last_touch[row.id] = now
                    session.execute(
                        update(ApiKey)
                        .where(ApiKey.id == row.id)
                        .values(last_used_at=datetime.now(UTC))
                    )
                    session.commit()
        with self._lock:
            self._cache[digest] = (now, verdict)
        return verdict
