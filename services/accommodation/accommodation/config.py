"""Settings of the accommodation service (see shared.config for the common variables).

`ACCOMMODATION_HOLIDAYS`: comma-separated ISO dates excluded from business-day timers.
`ACCOMMODATION_TRAVEL_MINUTES`: the lead time before a program session that suggested
accommodations block (default 45).
"""

from shared.config import Settings

SERVICE_NAME = "accommodation"


def load_settings() -> Settings:
    return Settings.from_env(SERVICE_NAME)


def holidays_text(settings: Settings) -> str:
    return settings.service_env.get("ACCOMMODATION_HOLIDAYS", "")


def travel_minutes(settings: Settings) -> int:
    raw = settings.service_env.get("ACCOMMODATION_TRAVEL_MINUTES", "45")
    return max(0, min(240, int(raw)))
