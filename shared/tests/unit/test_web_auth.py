import pytest
from flask import Flask

from shared.web.auth import Authenticator, Principal, owned_or_404, requires_roles, tenant_id
from shared.web.problems import Problem

SERVICES = ("referral", "accommodation", "attestation")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_token_works_on_every_service(platform):
    token = platform.client_token("hr")
    for service in SERVICES:
        response = platform.app(service).test_client().get(
            "/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, service
        assert response.get_json()["role"] == "hr"
        assert response.get_json()["employer_id"].startswith("emp_")


def test_revocation_bites_once_the_cache_entry_ages_out(platform):
    clock = Clock()
    auth = Authenticator(platform.directory, cache_seconds=10, monotonic=clock)
    token = platform.client_token("specialist")
    header = f"Bearer {token}"
    assert auth.authenticate(header).role == "specialist"
    platform.directory.revoke_client(token.split(".")[1])
    clock.now += 9.9
    auth.authenticate(header)  # still cached: revocation is not instant by design...
    clock.now += 0.2
    with pytest.raises(Problem) as exc:  # ...but bounded by the cache age
        auth.authenticate(header)
    assert exc.value.status == 401


def test_the_cache_never_outlives_thirty_seconds(platform):
    assert Authenticator(platform.directory, cache_seconds=3600).cache_seconds == 30


def test_a_wrong_secret_for_a_real_client_is_refused(platform):
    token = platform.client_token("hr")
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    auth = Authenticator(platform.directory)
    with pytest.raises(Problem) as exc:
        auth.authenticate(f"Bearer {forged}")
    assert exc.value.status == 401


def test_roles_are_enforced(platform):
    runtime = platform.runtime("referral")
    app = Flask("t")
    app.extensions["bridgeline"] = runtime

    @app.get("/hr-only")
    @requires_roles("hr")
    def hr_only():
        return {"tenant": tenant_id()}

    from shared.web.errors import register_error_handlers

    register_error_handlers(app)
    client = app.test_client()
    hr = platform.client_token("hr")
    manager = platform.client_token("manager")
    ok = client.get("/hr-only", headers={"Authorization": f"Bearer {hr}"})
    assert ok.status_code == 200 and ok.get_json()["tenant"].startswith("emp_")
    assert client.get("/hr-only", headers={"Authorization": f"Bearer {manager}"}).status_code == 403
    assert client.get("/hr-only").status_code == 401


def test_another_tenants_resource_looks_missing():
    app = Flask("t")
    with app.test_request_context():
        from flask import g

        g.principal = Principal("cli_x", "hr", "emp_a", None)
        owned_or_404("emp_a")
        for other in ("emp_b", None, ""):
            with pytest.raises(Problem) as exc:
                owned_or_404(other, "referral")
            assert exc.value.status == 404
            assert exc.value.detail == "No such referral."
        g.principal = Principal("cli_y", "admin", None, None)
        with pytest.raises(Problem) as exc:
            tenant_id()
        assert exc.value.status == 403


def test_scoped_queries_never_see_another_tenants_rows(sqlite_url):
    from flask import g
    from sqlalchemy import Column, MetaData, String, Table, insert, select

    from shared.db import make_engine
    from shared.web.auth import scoped

    md = MetaData()
    rows = Table("rows", md, Column("id", String, primary_key=True), Column("employer_id", String))
    engine = make_engine(sqlite_url)
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(rows), [{"id": "a1", "employer_id": "emp_a"},
                                    {"id": "b1", "employer_id": "emp_b"}])
    app = Flask("t")
    with app.test_request_context(), engine.connect() as conn:
        g.principal = Principal("cli_x", "hr", "emp_a", None)
        assert conn.execute(scoped(select(rows.c.id), rows.c.employer_id)).scalars().all() == ["a1"]
        lookup = scoped(select(rows.c.id).where(rows.c.id == "b1"), rows.c.employer_id)
        assert conn.execute(lookup).first() is None
    engine.dispose()
