"""Field-level encryption: values encrypted one by one, bound to where they live, under
one data key per subject (employee), so erasing that key shreds the subject everywhere.

    from shared.crypto import Aad, ERASED, build_field_cipher, build_blind_index

    cipher = build_field_cipher(settings)                 # keyring + directory database
    aad = Aad(tenant=employer_id, table="referrals", record_id=referral_id,
              field="employee_email")
    token = cipher.encrypt("ada@example.com", subject=employee_subject, aad=aad)
    cipher.decrypt(token, subject=employee_subject, aad=aad)   # "ada@example.com"
    cipher.erase_subject(employee_subject)
    cipher.decrypt(token, subject=employee_subject, aad=aad)   # ERASED
    digest = build_blind_index(settings).digest("employee_email", "Ada@Example.com ",
                                                tenant=employer_id, normalize=casefold_strip)

Pieces: `cipher` (FieldCipher, ERASED), `aad` (Aad), `token_format` (the stored form),
`key_store` (subject keys in the directory database), `keyring` (KEKs: the `KekProvider`
interface and the file keyring), `key_cache`, `blind_index`, `encrypted_fields` (ORM and
Core mapping of encrypted columns), `cli` (`bridgeline keys ...`, `bridgeline subjects ...`).
There is deliberately no switch that turns encryption off; tests generate their keys.
"""

from shared.crypto.aad import Aad
from shared.crypto.blind_index import BlindIndex, casefold_strip, exact, strip
from shared.crypto.cipher import ERASED, SYSTEM_SUBJECT, Erased, FieldCipher
from shared.crypto.encrypted_fields import EncryptedFields, bind_cipher
from shared.crypto.errors import (
    CryptoError,
    DecryptionError,
    KeyringError,
    SubjectErasedError,
)
from shared.crypto.from_settings import build_blind_index, build_field_cipher, build_key_store
from shared.crypto.key_store import KeyStore
from shared.crypto.keyring import KekProvider, Keyring, WrappedKey
from shared.crypto.token_format import is_token

__all__ = [
    "ERASED",
    "SYSTEM_SUBJECT",
    "Aad",
    "BlindIndex",
    "CryptoError",
    "DecryptionError",
    "EncryptedFields",
    "Erased",
    "FieldCipher",
    "KekProvider",
    "KeyStore",
    "Keyring",
    "KeyringError",
    "SubjectErasedError",
    "WrappedKey",
    "bind_cipher",
    "build_blind_index",
    "build_field_cipher",
    "build_key_store",
    "casefold_strip",
    "exact",
    "is_token",
    "strip",
]
