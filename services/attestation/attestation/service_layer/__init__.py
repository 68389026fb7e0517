"""The attestation service's use cases (one database transaction each)."""
