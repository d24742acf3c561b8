"""Concurrent writers cannot oversubscribe a provider (each write is one transaction)."""
import threading
import uuid

import pytest
from django.db import connection

from simulator import placement
from simulator.models import ResourceProvider
from tests.factories import cloud_with_hosts


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_claims_never_exceed_capacity():
    cloud = cloud_with_hosts("race", ["small"], "SmallFakeDriver")  # 2 VCPU x 4.0 = 8, max_unit 2
    provider = ResourceProvider.objects.get(cloud=cloud)
    outcomes = []
    barrier = threading.Barrier(20)

    def claim():
        try:
            barrier.wait()
            placement.put_allocations(
                cloud, uuid.uuid4(), {str(provider.uuid): {"resources": {"VCPU": 2}}}, None, "INSTANCE", "p", "u"
            )
            outcomes.append("ok")
        except placement.AllocationConflict as error:
            outcomes.append(error.detail)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.count("ok") == 4
    assert len(outcomes) == 20
    assert all("would exceed the capacity" in o for o in outcomes if o != "ok")
    assert placement.usages(provider)["VCPU"] == 8
    provider.refresh_from_db()
    assert provider.generation == 4
