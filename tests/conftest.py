import pytest
from django.core.management import call_command

from simulator.models import Cloud


@pytest.fixture
def demo_cloud(db):
    """The shared demo cloud, as ``seed_demo`` builds it."""
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    return Cloud.objects.get(name="demo")
