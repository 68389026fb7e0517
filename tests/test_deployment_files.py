"""docker-compose.yml cannot be run here (no Docker engine), so it is checked by reading."""

from pathlib import Path

import yaml

from shared.supervisor import service_commands

ROOT = Path(__file__).resolve().parents[1]
SERVICES = {"referral": 8081, "accommodation": 8082, "attestation": 8083}


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_infrastructure_with_health_checks():
    services = compose()["services"]
    assert services["rabbitmq"]["image"].endswith("-management")
    assert services["postgres"]["image"].startswith("postgres:")
    for name in ("rabbitmq", "postgres"):
        assert services[name]["healthcheck"]["test"]


def test_each_service_runs_under_gunicorn_with_a_worker_after_migrations():
    services = compose()["services"]
    for name, port in SERVICES.items():
        web = services[name]
        command = " ".join(web["command"])
        assert command.startswith("gunicorn") and f"{name}.app:create_app()" in command
        assert f"0.0.0.0:{port}" in command
        assert f"{port}/readyz" in " ".join(web["healthcheck"]["test"])
        assert web["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        worker = services[f"{name}-worker"]
        assert worker["command"] == ["bridgeline", "worker", "--service", name]
        for env_file in web["env_file"]:
            assert (ROOT / env_file).is_file(), env_file
    assert services["migrate"]["command"] == ["bridgeline", "db", "upgrade"]


def _option(argv, name):
    return argv[argv.index(name) + 1]


def test_compose_runs_gunicorn_as_bridgeline_up_does():
    """Worker class and threads per worker: the containers run what the benchmarks and
    `make run` measured (`bridgeline up`'s defaults)."""
    services = compose()["services"]
    for name in SERVICES:
        up = service_commands(name, 1)[0]
        command = services[name]["command"]
        for option in ("--worker-class", "--threads", "--graceful-timeout"):
            assert _option(command, option) == _option(up, option), (name, option)


def test_env_files_switch_to_postgres_and_production():
    common = dict(line.split("=", 1) for line in (ROOT / "deploy/env/common.env").read_text().splitlines()
                  if line and not line.startswith("#"))
    assert common["DATABASE_URL"].startswith("postgresql://")
    assert common["BRIDGELINE_ENV"] == "production"
    assert common["AMQP_URL"].startswith("amqp://")


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci/run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci and "make test" in readme and "make run" in readme
