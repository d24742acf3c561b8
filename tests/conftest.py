import os

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from django.core.management import call_command
from django.db.backends.utils import CursorWrapper

from simulator.models import Cloud
from simulator.report import build_report
from tests.factories import finished_run
from tests.services import postgres_cluster


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("automation", password="s3cret-pass")


@pytest.fixture
def operator(django_user_model):
    """Someone using the pages (logged in by ``logged_in``)."""
    return django_user_model.objects.create_user("operator", password="s3cret-pass")


@pytest.fixture
def logged_in(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def token(user):
    return Token.objects.create(user=user)


@pytest.fixture
def api(token):
    """A script's client: token authentication, JSON bodies."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def anon(db):
    return APIClient()


@pytest.fixture
def demo_cloud(db):
    """The shared demo cloud, as ``seed_demo`` builds it."""
    with open(os.devnull, "w") as devnull:
        call_command("seed_demo", stdout=devnull)
    return Cloud.objects.get(name="demo")


@pytest.fixture
def resize(db):
    """Run a scenario to the end in this process and return its report."""

    def _resize(scenario="bug-1825537", **overrides):
        return build_report(finished_run(scenario, **overrides))

    return _resize


@pytest.fixture
def first_write_fails(monkeypatch):
    """``first_write_fails(table, error)``: the next INSERT, UPDATE or DELETE on ``table`` raises
    ``error`` (a deadlock, a locked database) instead of running; later ones run. Returns the list
    of the statements refused."""

    def arm(table, error):
        real_execute = CursorWrapper._execute
        refused = []

        def once(self, sql, params, *args):
            if not refused and table in sql and sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
                refused.append(sql)
                raise error
            return real_execute(self, sql, params, *args)

        monkeypatch.setattr(CursorWrapper, "_execute", once)
        return refused

    return arm


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL cluster for this test session (skipped where none is installed)."""
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        pytest.skip("this run is already on PostgreSQL")
    try:
        with postgres_cluster() as url:
            yield url
    except FileNotFoundError as error:
        pytest.skip(str(error))


def pytest_collection_modifyitems(items):
    """Under pytest 9, schemathesis gives every operation's test the same node id; give each its
    operation as parameters, so that reports say which one and pytest-xdist (which keeps one test
    per id) runs them all."""
    for item in items:
        label = getattr(item, "operation_label", None)
        if label and item.id.params is None:
            item._id = item.id.with_params(label)
