"""Declare encrypted fields once; the domain only ever sees plaintext.

A plain column type cannot do this: the AAD needs the row's tenant, id and subject,
which a `TypeDecorator` never sees. So a spec names the fields and where those three
come from, and is applied to an imperative mapping (cosmicpython style):

    # adapters/orm.py
    referrals = Table("referrals", metadata,
        Column("id", String(40), primary_key=True),
        Column("employer_id", String(40), nullable=False),
        Column("employee_subject", String(200), nullable=False),
        Column("employee_name", Text, nullable=False),      # holds a ciphertext
        Column("employee_email", Text, nullable=True))      # holds a ciphertext

    REFERRAL_FIELDS = EncryptedFields("referrals", ("employee_name", "employee_email"),
                                      tenant="employer_id", subject="employee_subject")

    def start_mappers(registry):
        REFERRAL_FIELDS.map(registry, Referral, referrals)   # instead of map_imperatively

    # bootstrap.py: every session must carry the cipher
    sessions = bind_cipher(sessionmaker(bind=engine, expire_on_commit=False), cipher)

How it works: each encrypted column is mapped to a private attribute (`_sealed_<field>`)
holding the ciphertext; `<field>` stays the domain's plaintext attribute (a small
descriptor that also tells the ORM the row changed when it is set). On load and refresh
the ciphertext is decrypted into it (`ERASED` for a shredded subject; `DecryptionError`
if tampered or copied from another row). Before every flush, a field whose plaintext
(or tenant, subject, id) changed since it was last sealed or opened is encrypted again
into its private attribute, which the ORM writes like any other change. The domain
attribute never holds a ciphertext, so a failed flush or a rollback cannot leave one
behind, and unchanged fields are not re-encrypted.

Limits: filter on blind-index columns, never on an encrypted column; bulk `update()` /
`insert()` statements and `Session.merge` bypass the spec; `ERASED` cannot be stored.
Core repositories use `seal` and `open` on dicts instead of mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Table, event, inspect
from sqlalchemy.orm import Session, registry, sessionmaker
from sqlalchemy.orm.attributes import flag_modified

from shared.crypto.aad import Aad
from shared.crypto.cipher import Erased, FieldCipher

CIPHER_INFO_KEY = "shared.crypto.field_cipher"
_STASH_KEY = "shared.crypto.sealed"
_SPECS: dict[type, EncryptedFields] = {}
S = TypeVar("S", Session, sessionmaker[Session])


def bind_cipher(target: S, cipher: FieldCipher) -> S:
    """Give a session (or every session a sessionmaker makes) the cipher that the
    encrypted fields of its objects use. Returns `target`."""
    if isinstance(target, Session):
        target.info[CIPHER_INFO_KEY] = cipher
    else:
        target.configure(info={**(target.kw.get("info") or {}), CIPHER_INFO_KEY: cipher})
    return target


def _cipher_of(session: Session | None) -> FieldCipher:
    cipher = session.info.get(CIPHER_INFO_KEY) if session is not None else None
    if cipher is None:
        raise RuntimeError("this session has no field cipher: build it with "
                           "bind_cipher(sessionmaker(...), cipher)")
    return cipher


@dataclass(frozen=True)
class EncryptedFields:
    """Which attributes are stored encrypted, and which attributes give the AAD.

    `table` is the name bound into the AAD (normally the table's own name). Columns
    are named like their fields unless `columns` says otherwise."""

    table: str
    fields: tuple[str, ...]
    tenant: str = "tenant_id"
    subject: str = "subject"
    record_id: str = "id"
    columns: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.fields, str):
            raise TypeError("fields is a tuple of names: write (\"name\",), not \"name\"")
        object.__setattr__(self, "fields", tuple(self.fields))

    def column_of(self, name: str) -> str:
        return self.columns.get(name, name)

    @staticmethod
    def sealed_attribute(name: str) -> str:
        return f"_sealed_{name}"

    # -- ORM --------------------------------------------------------------------------
    def properties(self, table: Table) -> dict[str, Any]:
        """Mapper properties putting each encrypted column on its private attribute."""
        return {self.sealed_attribute(f): table.c[self.column_of(f)] for f in self.fields}

    def map(self, mapper_registry: registry, cls: type, table: Table, **kwargs: Any) -> Any:
        """`registry.map_imperatively` with this spec applied; returns the mapper."""
        properties = {**kwargs.pop("properties", {}), **self.properties(table)}
        mapper: Any = mapper_registry.map_imperatively(cls, table, properties=properties,
                                                       **kwargs)
        self.attach(cls)
        return mapper

    def attach(self, cls: type) -> None:
        """Install the load / refresh / flush hooks for `cls` (after it is mapped with
        `properties(table)`); `map` does this for you."""
        if _SPECS.get(cls) is self:
            return
        _SPECS[cls] = self
        for name in self.fields:
            setattr(cls, name, _PlaintextAttribute(name, self.sealed_attribute(name)))
        event.listen(cls, "load", self._on_load, propagate=True)
        event.listen(cls, "refresh", self._on_refresh, propagate=True)

    def _on_load(self, target: Any, context: Any) -> None:
        self._open_into(target, _cipher_of(context.session), self.fields)

    def _on_refresh(self, target: Any, context: Any, attrs: Iterable[str] | None) -> None:
        names = self.fields if attrs is None else tuple(
            f for f in self.fields if self.sealed_attribute(f) in set(attrs))
        if names:
            self._open_into(target, _cipher_of(context.session), names)

    def _open_into(self, target: Any, cipher: FieldCipher, names: Iterable[str]) -> None:
        stash = inspect(target).info.setdefault(_STASH_KEY, {})
        subject, where = self._binding(lambda name: getattr(target, name, None))
        for name in names:
            token = target.__dict__.get(self.sealed_attribute(name))
            value = None if token is None else cipher.decrypt(
                token, subject=subject, aad=Aad(*where, name))
            target.__dict__[name] = value  # not setattr: opening is not a change
            stash[name] = (value, subject, where)

    def seal_if_changed(self, target: Any, cipher: FieldCipher) -> None:
        """Encrypt into the private attributes whatever changed since last sealed or opened."""
        state = inspect(target)
        stash = state.info.setdefault(_STASH_KEY, {})
        current = {name: getattr(target, name, None) for name in self.fields}
        if not state.modified and all(name in stash and _same(stash[name][0], value)
                                      for name, value in current.items()):
            # No mapped attribute changed (so neither did tenant, subject or id) and no
            # plaintext did: skip without touching attributes that may be expired.
            return
        subject, where = self._binding(lambda name: getattr(target, name, None))
        for name, value in current.items():
            previous = stash.get(name)
            if previous and _same(previous[0], value) and previous[1:] == (subject, where):
                continue
            setattr(target, self.sealed_attribute(name), self._seal_value(
                cipher, value, subject, Aad(*where, name)))
            stash[name] = (value, subject, where)

    @staticmethod
    def _seal_value(cipher: FieldCipher, value: Any, subject: str, aad: Aad) -> str | None:
        if value is None:
            return None
        if isinstance(value, Erased):
            raise ValueError(f"{aad.table}.{aad.field} is ERASED; an erased value cannot be "
                             "stored again under a new tenant, subject or id")
        return cipher.encrypt(value, subject=subject, aad=aad)

    def _binding(self, get: Callable[[str], Any]) -> tuple[str, tuple[str, str, str]]:
        """(subject, (tenant, table, record id)) of a row, read through `get`."""
        subject, tenant, record_id = (get(self.subject), get(self.tenant), get(self.record_id))
        missing = [attribute for attribute, value in ((self.subject, subject),
                   (self.tenant, tenant), (self.record_id, record_id)) if value is None]
        if missing:
            raise ValueError(f"{self.table}: set {', '.join(missing)} before its encrypted "
                             "fields are stored or read (they are bound into the AAD)")
        return subject, (tenant, self.table, record_id)

    # -- Core ---------------------------------------------------------------------------
    def seal(self, cipher: FieldCipher, values: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of `values` (attribute names → values) ready to insert or update:
        each encrypted field replaced by its column holding the ciphertext."""
        subject, where = self._binding(values.get)
        sealed = {k: v for k, v in values.items() if k not in self.fields}
        for name in self.fields:
            if name in values:
                sealed[self.column_of(name)] = self._seal_value(
                    cipher, values[name], subject, Aad(*where, name))
        return sealed

    def open(self, cipher: FieldCipher, row: Mapping[str, Any],
             fields: Iterable[str] | None = None) -> dict[str, Any]:
        """A dict of a row (pass `row._mapping` for a Core `Row`) with each encrypted
        column decrypted under its field's name; with `fields`, only those (a read that
        selected only what it shows decrypts only that)."""
        subject, where = self._binding(row.get)
        opened = dict(row)
        names = self.fields if fields is None else tuple(fields)
        unknown = set(names) - set(self.fields)
        if unknown:
            raise ValueError(f"{self.table}: not encrypted fields: {', '.join(sorted(unknown))}")
        for name in names:
            token = opened.pop(self.column_of(name), None)
            opened[name] = None if token is None else cipher.decrypt(
                token, subject=subject, aad=Aad(*where, name))
        return opened


class _PlaintextAttribute:
    """The domain's plaintext attribute. Setting it tells the ORM that the row changed
    (a plain attribute alone would not: a session with only such a change would never
    flush), after first loading an expired row so the load cannot overwrite the new value."""

    def __init__(self, name: str, sealed: str) -> None:
        self.name = name
        self.sealed = sealed

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        try:
            return obj.__dict__[self.name]
        except KeyError:
            raise AttributeError(self.name) from None

    def __set__(self, obj: Any, value: Any) -> None:
        state = inspect(obj)
        attached = state.has_identity and state.session is not None
        if attached and self.sealed not in state.dict:
            getattr(obj, self.sealed)  # refreshes the expired row, and our plaintext with it
        obj.__dict__[self.name] = value
        if attached:
            flag_modified(obj, self.sealed)


def _same(a: Any, b: Any) -> bool:
    return a is b or (type(a) is type(b) and a == b)


@event.listens_for(Session, "before_flush")
def _seal_before_flush(session: Session, flush_context: Any, instances: Any) -> None:
    if not _SPECS:
        return
    deleted = set(map(id, session.deleted))
    for obj in [*session.new, *session.identity_map.values()]:
        spec = _spec_for(type(obj))
        if spec is not None and id(obj) not in deleted:
            spec.seal_if_changed(obj, _cipher_of(session))


def _spec_for(cls: type) -> EncryptedFields | None:
    for klass in cls.__mro__:
        spec = _SPECS.get(klass)
        if spec is not None:
            return spec
    return None
