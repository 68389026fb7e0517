"""Webhook endpoints of employers and providers, with their signing secrets.

A signing secret must be usable, so it is stored encrypted under the system subject with
its AAD bound to the endpoint row, never hashed. Rotating keeps the previous secret
signing too for `SECRET_OVERLAP`, so receivers can switch without losing a delivery.
This class is also the `EndpointDirectory` the webhook deliverer asks for URLs/secrets.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, Row, insert, select, update

from shared.crypto import SYSTEM_SUBJECT, Aad, Erased, FieldCipher
from shared.directory import tables as t
from shared.directory.service import Clock, DirectoryError, utcnow
from shared.ids import new_id
from shared.webhooks import Endpoint, generate_secret, validate_endpoint_url

SECRET_OVERLAP = timedelta(hours=24)
OWNER_KINDS = ("employer", "provider")


class WebhookEndpoints:
    def __init__(self, engine: Engine, cipher: FieldCipher, *, allow_insecure_urls: bool,
                 clock: Clock = utcnow) -> None:
        self.engine = engine
        self.cipher = cipher
        self.allow_insecure_urls = allow_insecure_urls
        self.clock = clock

    def configure(self, owner_kind: str, owner_id: str, url: str) -> tuple[str, str]:
        """Create or replace the owner's endpoint; returns (endpoint id, new secret)."""
        if owner_kind not in OWNER_KINDS:
            raise DirectoryError(f"unknown endpoint owner kind {owner_kind!r}")
        try:
            validate_endpoint_url(url, allow_insecure=self.allow_insecure_urls)
        except ValueError as exc:
            raise DirectoryError(str(exc)) from exc
        existing = self._row_for_owner(owner_id)
        endpoint_id = existing.id if existing else new_id("whe")
        secret = generate_secret()
        values = {"url": url, "secret_ciphertext": self._seal(owner_id, endpoint_id, secret),
                  "previous_secret_ciphertext": None, "previous_secret_expires_at": None,
                  "disabled_at": None, "disabled_reason": None}
        with self.engine.begin() as conn:
            if existing:
                conn.execute(update(t.webhook_endpoints)
                             .where(t.webhook_endpoints.c.id == endpoint_id).values(**values))
            else:
                conn.execute(insert(t.webhook_endpoints).values(
                    id=endpoint_id, owner_kind=owner_kind, owner_id=owner_id,
                    created_at=self.clock(), **values))
        return endpoint_id, secret

    def rotate_secret(self, owner_id: str) -> str:
        """A new secret; the old one keeps signing for SECRET_OVERLAP."""
        row = self._row_for_owner(owner_id)
        if row is None:
            raise DirectoryError(f"{owner_id} has no webhook endpoint")
        secret = generate_secret()
        with self.engine.begin() as conn:
            conn.execute(update(t.webhook_endpoints)
                         .where(t.webhook_endpoints.c.id == row.id).values(
                secret_ciphertext=self._seal(owner_id, row.id, secret),
                previous_secret_ciphertext=self._reseal_as_previous(row),
                previous_secret_expires_at=self.clock() + SECRET_OVERLAP))
        return secret

    def get(self, endpoint_id: str) -> Endpoint | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.webhook_endpoints)
                               .where(t.webhook_endpoints.c.id == endpoint_id)).first()
        return self._endpoint(row) if row else None

    def for_owner(self, owner_id: str) -> Endpoint | None:
        row = self._row_for_owner(owner_id)
        return self._endpoint(row) if row else None

    def disable(self, endpoint_id: str, reason: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(t.webhook_endpoints).where(t.webhook_endpoints.c.id == endpoint_id)
                         .values(disabled_at=self.clock(), disabled_reason=reason[:200]))

    # -- internals -------------------------------------------------------------------
    def _row_for_owner(self, owner_id: str) -> Row[Any] | None:
        with self.engine.connect() as conn:
            return conn.execute(select(t.webhook_endpoints)
                                .where(t.webhook_endpoints.c.owner_id == owner_id)).first()

    def _endpoint(self, row: Row[Any]) -> Endpoint:
        secrets = [self._open(row.owner_id, row.id, row.secret_ciphertext, "secret")]
        expires = row.previous_secret_expires_at
        if row.previous_secret_ciphertext and expires and expires > self.clock():
            secrets.append(self._open(row.owner_id, row.id, row.previous_secret_ciphertext,
                                      "previous_secret"))
        return Endpoint(id=row.id, url=row.url, secrets=secrets,
                        disabled=row.disabled_at is not None)

    def _reseal_as_previous(self, row: Row[Any]) -> str:
        current = self._open(row.owner_id, row.id, row.secret_ciphertext, "secret")
        return self._seal(row.owner_id, row.id, current, "previous_secret")

    def _seal(self, owner_id: str, endpoint_id: str, secret: str, field: str = "secret") -> str:
        aad = Aad(owner_id, "webhook_endpoints", endpoint_id, field)
        return self.cipher.encrypt(secret, subject=SYSTEM_SUBJECT, aad=aad)

    def _open(self, owner_id: str, endpoint_id: str, token: str, field: str) -> str:
        aad = Aad(owner_id, "webhook_endpoints", endpoint_id, field)
        value = self.cipher.decrypt(token, subject=SYSTEM_SUBJECT, aad=aad)
        if isinstance(value, Erased):
            raise DirectoryError("the system key was erased; endpoint secrets are lost")
        return value

