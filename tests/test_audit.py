"""The audit of many clouds at once: each cloud's own audit, in the same four queries whatever their number."""
from simulator.audit import audit_cloud, audit_clouds
from simulator.cloud import build_cloud
from simulator.models import Cloud
from simulator.pipeline import execute_step
from tests.factories import booted_server, finished_run, started_run

CLEAN = {"exit_code": 0, "orphaned": [], "missing": [], "flavor_mismatch": []}


def test_the_audit_of_many_clouds_is_each_clouds_own_audit(db, django_assert_num_queries):
    runs = [finished_run(name) for name in ("bug-1825537", "revert-destroy-fails", "same-host-finish-resize-fails",
                                            "resize-confirm", "prep-resize-reschedule")]
    shared = build_cloud("shared", ["host1", "host2", "host3"], "FakeDriver")
    booted_server(shared, "vm1", "host3")
    unfinished = started_run("bug-1825537")
    execute_step(unfinished.pk, unfinished.seq)  # mid-resize: the migration holds host1, the claim host2
    clouds = Cloud.objects.all()
    with django_assert_num_queries(4):
        audits = audit_clouds(clouds)
    assert audits == {cloud.pk: audit_cloud(cloud) for cloud in clouds if cloud.pk in audits}
    assert set(audits) == {run.cloud_id for run in runs} | {shared.pk, unfinished.cloud_id}
    assert sum(audit["exit_code"] == 3 for audit in audits.values()) == 3
    assert audits[unfinished.cloud_id] == audits[shared.pk] == CLEAN
    assert audits[runs[0].cloud_id] == runs[0].audit  # what the run recorded when it ended
    # A cloud with nothing in it is clean; every cloud asked for has its audit.
    assert audit_clouds([shared.pk, 987654]) == {shared.pk: CLEAN, 987654: CLEAN}
