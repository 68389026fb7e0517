"""Settings of the attestation service (see shared.config for every variable)."""

from shared.config import Settings

SERVICE_NAME = "attestation"


def load_settings() -> Settings:
    return Settings.from_env(SERVICE_NAME)
