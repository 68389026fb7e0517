"""Settings of the accommodation service (see shared.config for every variable)."""

from shared.config import Settings

SERVICE_NAME = "accommodation"


def load_settings() -> Settings:
    return Settings.from_env(SERVICE_NAME)
