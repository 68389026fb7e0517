import pytest
from click.testing import CliRunner

from shared.cli import main
from shared.db import make_engine
from shared.db.migrate import upgrade_directory
from shared.directory import Directory, DirectoryError


@pytest.fixture
def directory(sqlite_url):
    upgrade_directory(sqlite_url)
    engine = make_engine(sqlite_url)
    yield Directory(engine)
    engine.dispose()


def test_clients_belong_to_exactly_one_tenant_of_the_right_kind(directory):
    acme = directory.create_employer("Acme")
    iop = directory.create_provider("Evening IOP")
    hr, _ = directory.create_client("hr", employer_id=acme.id)
    prov, _ = directory.create_client("provider", provider_id=iop.id)
    assert (hr.tenant_id, prov.tenant_id) == (acme.id, iop.id)
    refused = [
        dict(role="hr"),
        dict(role="hr", provider_id=iop.id),
        dict(role="hr", employer_id=acme.id, provider_id=iop.id),
        dict(role="provider", employer_id=acme.id),
        dict(role="manager", employer_id="emp_doesnotexist"),
        dict(role="admin", employer_id=acme.id),
        dict(role="root"),
    ]
    for kwargs in refused:
        with pytest.raises(DirectoryError):
            directory.create_client(kwargs.pop("role"), **kwargs)


def test_secret_is_stored_only_as_a_hash(directory):
    acme = directory.create_employer("Acme")
    client, token = directory.create_client("hr", employer_id=acme.id)
    stored = directory.get_client(client.id)
    assert stored.secret_hash != token.secret
    assert token.secret not in repr(stored)


def test_revocation(directory):
    acme = directory.create_employer("Acme")
    client, _ = directory.create_client("hr", employer_id=acme.id)
    assert directory.revoke_client(client.id)
    assert directory.get_client(client.id).revoked
    assert not directory.revoke_client(client.id)  # already revoked
    assert not directory.revoke_client("cli_unknown")


@pytest.fixture
def cli_env(tmp_path):
    env = {"BRIDGELINE_VAR_DIR": str(tmp_path)}
    upgrade_directory(f"sqlite:///{tmp_path / 'directory.db'}")
    return env


def run(env, *args):
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output.strip().splitlines()


def test_cli_prints_the_id_and_the_token_last(cli_env):
    code, lines = run(cli_env, "employers", "create", "--name", "Acme Corp")
    assert code == 0
    employer_id = lines[-1]
    assert employer_id.startswith("emp_")
    code, lines = run(cli_env, "clients", "create", "--employer", employer_id, "--role", "hr")
    assert code == 0
    assert lines[-1].startswith("bl1.cli_")
    code, listing = run(cli_env, "clients", "list")
    assert code == 0 and len(listing) == 1
    assert lines[-1].split(".")[2] not in "\n".join(listing)  # the secret is never listed
    client_id = lines[-1].split(".")[1]
    assert run(cli_env, "clients", "revoke", client_id) == (0, [f"Revoked {client_id}."])
    assert "revoked" in run(cli_env, "clients", "list")[1][0]


def test_cli_refusals_are_one_clear_sentence(cli_env):
    result = CliRunner().invoke(main, ["clients", "create", "--employer", "emp_nope", "--role", "hr"],
                                env=cli_env)
    assert result.exit_code == 1
    assert "no employer emp_nope" in result.output
    assert "Traceback" not in result.output


def test_cli_on_a_missing_schema_says_what_to_do(tmp_path):
    result = CliRunner().invoke(main, ["employers", "list"], env={"BRIDGELINE_VAR_DIR": str(tmp_path)})
    assert result.exit_code == 1
    assert "bridgeline db upgrade" in result.output
