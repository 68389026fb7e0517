"""How the attestation service meets the world: the HTTP API and the event consumer."""
