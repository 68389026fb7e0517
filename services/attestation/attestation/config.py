"""Settings of the attestation service (see shared.config for every variable).

Its own variables:
- `ATTESTATION_SIGNING_KEYS`: the Ed25519 signing keyring (default
  `<BRIDGELINE_VAR_DIR>/keys/attestation-signing.json`; `bridgeline signing-keys init`).
- `ATTESTATION_VALIDITY_DAYS`: how long an attestation is good after its period ends
  (default 10).
- `ATTESTATION_GRACE_DAYS`: how long a finished week with no attendance reported waits
  before it is attested anyway (default 3); a week with attendance is attested at once.
- `ATTESTATION_ISSUE_INTERVAL_SECONDS`: how often the worker looks for due attestations
  (default 10).
"""

from pathlib import Path

from attestation.domain.periods import DEFAULT_VALIDITY_DAYS
from shared.config import Settings

SERVICE_NAME = "attestation"


def load_settings() -> Settings:
    return Settings.from_env(SERVICE_NAME)


def signing_keys_path(settings: Settings) -> Path:
    default = settings.var_dir / "keys" / "attestation-signing.json"
    return Path(settings.service_env.get("ATTESTATION_SIGNING_KEYS", str(default)))


def validity_days(settings: Settings) -> int:
    days = int(settings.service_env.get("ATTESTATION_VALIDITY_DAYS", DEFAULT_VALIDITY_DAYS))
    if not 1 <= days <= 90:
        raise ValueError("ATTESTATION_VALIDITY_DAYS must be between 1 and 90")
    return days


def issue_interval(settings: Settings) -> float:
    return float(settings.service_env.get("ATTESTATION_ISSUE_INTERVAL_SECONDS", 10))


def grace_days(settings: Settings) -> int:
    days = int(settings.service_env.get("ATTESTATION_GRACE_DAYS", 3))
    if not 0 <= days <= 14:
        raise ValueError("ATTESTATION_GRACE_DAYS must be between 0 and 14")
    return days
