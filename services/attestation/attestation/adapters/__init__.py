"""Adapters of the attestation service: signing keys, and (later) ORM and repositories."""
