"""`FieldCipher`: encrypt and decrypt single values under their subject's data key.

    token = cipher.encrypt("Ada Lovelace", subject=employee_subject,
                           aad=Aad(employer_id, "referrals", referral_id, "employee_name"))
    cipher.decrypt(token, subject=employee_subject, aad=...)   # "Ada Lovelace" | ERASED

AES-256-GCM with a fresh random 96-bit nonce per value. The AAD binds the value to
(subject, tenant, table, record id, field) and to the token header, so a value copied
anywhere else raises `DecryptionError`. Once a subject is erased every value of theirs
decrypts to the `ERASED` marker, in every service, and encrypting for them raises
`SubjectErasedError`.

Random nonces keep a key safe for about 2**32 values; a subject holds far fewer. The
`SYSTEM_SUBJECT` key (values that belong to no employee) is the busiest, and should be
watched if it ever approaches hundreds of millions of values.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.crypto.aad import Aad, associated_data
from shared.crypto.errors import DecryptionError, SubjectErasedError, UnencodableText
from shared.crypto.key_cache import DEFAULT_MAX_ENTRIES, DEFAULT_TTL_SECONDS, KeyCache
from shared.crypto.key_store import ERASED_KEY, DataKey, ErasedKey, KeyState
from shared.crypto.token_format import (
    NONCE_BYTES,
    encode_token,
    header_for,
    kid_of,
    parse_token,
)
from shared.ids import new_id

# Values that belong to no employee (webhook signing secrets, stored idempotent
# responses) are encrypted under this subject's key. Never erase it.
SYSTEM_SUBJECT: Final = "system"
# New subjects' keys are stored this many at a time, ahead of need (`new_subject`).
MINT_BATCH: Final = 16
# How many subjects handed out `put_back` remembers (a request gives one back at once).
HANDED_OUT_KEPT: Final = 1024


class Erased:
    """What a shredded value decrypts to. One instance, `ERASED`; test with `is ERASED`
    or `isinstance(value, Erased)`. Shows as "[erased]" and is not JSON-serialisable,
    so it cannot silently turn into data."""

    _instance: Erased | None = None

    def __new__(cls) -> Erased:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ERASED"

    def __str__(self) -> str:
        return "[erased]"

    def __reduce__(self) -> str:
        return "ERASED"

    def __copy__(self) -> Erased:
        return self

    def __deepcopy__(self, memo: object) -> Erased:
        return self


ERASED: Final = Erased()


class SubjectKeys(Protocol):
    """Where data keys come from: `KeyStore`, or a fake in tests."""

    def fetch(self, subject: str) -> KeyState: ...

    def fetch_or_create(self, subject: str) -> DataKey: ...

    def create_many(self, subjects: Sequence[str]) -> dict[str, DataKey]: ...

    def erase(self, subject: str) -> None: ...


@dataclass(frozen=True, slots=True)
class OpenKey:
    """A data key ready for use: its token header and its AEAD, built once per cache fill."""

    header: bytes
    aead: AESGCM


class FieldCipher:
    def __init__(self, keys: SubjectKeys, *, cache_ttl: float = DEFAULT_TTL_SECONDS,
                 cache_size: int = DEFAULT_MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.keys = keys
        self.cache: KeyCache[OpenKey | ErasedKey] = KeyCache(
            ttl=cache_ttl, max_entries=cache_size, clock=clock)
        self._minted: deque[tuple[str, OpenKey]] = deque()
        # The latest subjects handed out, the only ones `put_back` takes back.
        self._handed_out: OrderedDict[str, OpenKey] = OrderedDict()
        self._minting = threading.Lock()
        _ciphers.add(self)

    def encrypt(self, plaintext: str, *, subject: str, aad: Aad) -> str:
        """A token for `plaintext`, bound to `subject` and `aad`. Creates the subject's
        data key on first use; SubjectErasedError once the subject was erased."""
        if not isinstance(plaintext, str):
            raise TypeError("only str values are encrypted; encode other values first")
        key = self.cache.get(subject)
        if key is None:
            key = self._fill(subject, self.keys.fetch_or_create(subject))
        elif not isinstance(key, OpenKey):
            # Erasure is final, so a cached tombstone can never be stale.
            raise SubjectErasedError(f"subject {subject!r} was erased; no new data for it")
        try:
            data = plaintext.encode()
        except UnicodeEncodeError:
            # `from None`: the original exception holds the whole plaintext.
            raise UnencodableText("the value is not valid Unicode (a lone surrogate)") from None
        nonce = os.urandom(NONCE_BYTES)
        sealed = key.aead.encrypt(nonce, data, associated_data(key.header, subject, aad))
        return encode_token(key.header + nonce + sealed)

    def decrypt(self, token: str, *, subject: str, aad: Aad) -> str | Erased:
        """The plaintext, or `ERASED` if the subject's key was shredded. DecryptionError
        for anything else that does not open: tampered, not a token, or presented with
        another subject or AAD than it was made with."""
        header, nonce, sealed = parse_token(token)
        key = self.cache.get(subject) or self._load(subject)
        if not isinstance(key, OpenKey):
            return ERASED
        if header != key.header:
            raise DecryptionError("the value was not encrypted with this subject's key")
        try:
            plaintext = key.aead.decrypt(nonce, sealed, associated_data(header, subject, aad))
        except InvalidTag as exc:
            raise DecryptionError("the value was tampered with or belongs elsewhere") from exc
        return plaintext.decode()

    def new_subject(self) -> str:
        """A fresh subject (`sub_…`) for a new person, its data key already stored.

        Keys are stored `MINT_BATCH` at a time, ahead of need, in one statement (one
        thread stores a batch while others needing one wait for it): a new person costs
        no round trip to the key store of their own, and a write that depends on their
        key can go at once. The price: keys that nothing is ever encrypted with (random
        keys of random ids, harmless; `bridgeline keys status` counts them with the
        others): up to a batch when a process stops, and one for each request that
        fails after taking a subject."""
        while True:
            try:
                subject, key = self._minted.popleft()
                break
            except IndexError:
                with self._minting:
                    if not self._minted:  # no other thread refilled it meanwhile
                        fresh = [new_id("sub") for _ in range(MINT_BATCH)]
                        self._minted.extend(
                            (subject, _open(data_key))
                            for subject, data_key in self.keys.create_many(fresh).items())
        with self._minting:
            self._handed_out[subject] = key
            if len(self._handed_out) > HANDED_OUT_KEPT:
                self._handed_out.popitem(last=False)
        self.cache.put(subject, key)
        return subject

    def put_back(self, subject: str) -> None:
        """Return a subject that `new_subject` handed out and that was not needed after
        all (nothing encrypted with it was stored: the person turned out to have a
        subject already), so the next new person can have it. Any other subject, such
        as an existing person's, is ignored: two people never share a key."""
        with self._minting:
            key = self._handed_out.pop(subject, None)
            if key is not None:
                self._minted.appendleft((subject, key))

    def forget_minted(self) -> None:
        """Drop the keys stored ahead (in a forked child: its parent may hand them out)."""
        with self._minting:
            self._minted.clear()
            self._handed_out.clear()

    def is_erased(self, subject: str) -> bool:
        """Whether the subject's key was shredded (a new record for the same person then
        needs a new subject: nothing can be encrypted for an erased one)."""
        key = self.cache.get(subject)
        if key is not None:
            return not isinstance(key, OpenKey)
        return isinstance(self.keys.fetch(subject), ErasedKey)

    def erase_subject(self, subject: str) -> None:
        """Shred the subject's key everywhere. Other processes stop using their cached
        copy within the cache TTL (at most 30 s); this one stops at once."""
        self.keys.erase(subject)
        self.cache.put(subject, ERASED_KEY)

    def _load(self, subject: str) -> OpenKey | ErasedKey:
        state = self.keys.fetch(subject)
        if state is None:
            # No key and no tombstone: nothing was ever encrypted for this subject.
            raise DecryptionError("the value was not encrypted with this subject's key")
        if isinstance(state, ErasedKey):
            self.cache.put(subject, ERASED_KEY)
            return ERASED_KEY
        return self._fill(subject, state)

    def _fill(self, subject: str, data_key: DataKey) -> OpenKey:
        key = _open(data_key)
        self.cache.put(subject, key)
        return key


def _open(data_key: DataKey) -> OpenKey:
    return OpenKey(header_for(data_key.kid), AESGCM(data_key.key))


# A forked child (a gunicorn worker of a preloaded app) must not hand out the subjects
# its parent holds: two people would share a key.
_ciphers: weakref.WeakSet[FieldCipher] = weakref.WeakSet()


def _forget_minted_in_child() -> None:
    for cipher in list(_ciphers):
        cipher.forget_minted()


os.register_at_fork(after_in_child=_forget_minted_in_child)


def key_id_of(token: str) -> bytes:
    """The key id a token names (for diagnostics and tests; reveals nothing secret)."""
    return kid_of(parse_token(token)[0])
