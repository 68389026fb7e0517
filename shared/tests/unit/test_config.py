from pathlib import Path

from shared.config import Settings, database_url


def test_each_service_gets_its_own_sqlite_file_by_default(tmp_path):
    env = {"BRIDGELINE_VAR_DIR": str(tmp_path)}
    assert database_url("referral", env) == f"sqlite:///{tmp_path / 'referral.db'}"
    assert database_url("directory", env) == f"sqlite:///{tmp_path / 'directory.db'}"


def test_database_url_names_a_server_and_a_prefix():
    env = {"DATABASE_URL": "postgresql://u:p@db:5432/bridgeline"}
    assert database_url("referral", env) == "postgresql://u:p@db:5432/bridgeline_referral"
    assert database_url("directory", env) == "postgresql://u:p@db:5432/bridgeline_directory"


def test_a_service_specific_url_wins():
    env = {"DATABASE_URL": "postgresql://db/x", "ATTESTATION_DATABASE_URL": "sqlite:///a.db"}
    assert database_url("attestation", env) == "sqlite:///a.db"
    assert database_url("referral", env) == "postgresql://db/x_referral"


def test_settings_defaults_and_overrides(tmp_path):
    s = Settings.from_env("accommodation", {"BRIDGELINE_VAR_DIR": str(tmp_path)})
    assert s.port == 8082
    assert s.public_base_url == "http://localhost:8082"
    assert s.keyring_path == tmp_path / "keys" / "keyring.json"
    assert s.is_dev
    s = Settings.from_env("referral", {"REFERRAL_PORT": "9001", "AUTH_CACHE_SECONDS": "120",
                                       "BRIDGELINE_ENV": "production",
                                       "REFERRAL_PUBLIC_URL": "https://r.example/"})
    assert s.port == 9001
    assert s.auth_cache_seconds == 30.0  # revocation must bite within 30 s, whatever is asked
    assert s.public_base_url == "https://r.example"
    assert not s.is_dev
    assert isinstance(s.var_dir, Path)


def test_log_flush_seconds_defaults_and_refuses_nonsense():
    import pytest

    assert Settings.from_env("referral", {}).log_flush_seconds == 0.25
    assert Settings.from_env("referral", {"LOG_FLUSH_SECONDS": "0"}).log_flush_seconds == 0
    assert Settings.from_env("referral", {"LOG_FLUSH_SECONDS": "1.5"}).log_flush_seconds == 1.5
    for bad in ("-1", "6", "soon"):
        with pytest.raises(ValueError, match="LOG_FLUSH_SECONDS"):
            Settings.from_env("referral", {"LOG_FLUSH_SECONDS": bad})
