"""What one pipeline step works with: the run, its cloud, the server, the migration,
the service it runs in, and the cast it hands on."""
import contextlib
import logging
import uuid

from django.utils import timezone

from .driver import Failure, FakeDriver
from .exceptions import UnexpectedTaskStateError
from .models import Flavor, Host, InstanceAction, Migration, ResourceProvider, Server
from .params import fail_hosts

LOG = logging.getLogger("simulator")

PROJECT_ID = "6f70656e737461636b20342065766572"
USER_ID = "admin"
CONDUCTOR = "conductor"
API = "api"


def _provider_of(host):
    try:
        return host.provider
    except ResourceProvider.DoesNotExist:
        return None


class StepContext:
    """State shared by the Nova functions of one step; ``state`` persists on the run."""

    def __init__(self, run, service, delivery):
        self.run = run
        self.delivery = delivery
        self.cloud = run.cloud
        self.params = run.params
        self.state = run.pipeline_state
        self.service = service
        self.next_cast = None
        self.log_lines = []
        self.rescheduled_from = None  # the error a prep_resize rescheduled away from (the step failed)
        hosts = list(Host.objects.filter(cloud=self.cloud).select_related("provider"))
        self._hosts = {h.name: h for h in hosts}
        self.flavors = {f.pk: f for f in Flavor.objects.filter(cloud=self.cloud)}
        # The server's and the migration's hosts, nodes and flavors are the cloud's, loaded once.
        self._related = {
            Host: {h.pk: h for h in hosts},
            ResourceProvider: {p.pk: p for p in filter(None, map(_provider_of, hosts))},
            Flavor: self.flavors,
        }
        self.server = self._attach(Server.objects.select_for_update(of=("self",)).get(pk=run.server_id))
        # The row is locked for the step, so its stored task_state is the last one loaded or saved.
        self._stored_task_state = self.server.task_state
        self.migration = None
        if self.state.get("migration_id"):
            self.migration = self._attach(Migration.objects.get(pk=self.state["migration_id"]))

    def _attach(self, record):
        """Give ``record`` its hosts, nodes and flavors from the cloud's, without a query each."""
        for field in record._meta.concrete_fields:
            objects = self._related.get(field.related_model) if field.is_relation else None
            value = getattr(record, field.attname) if objects is not None else None
            if value is not None and value in objects:
                field.set_cached_value(record, objects[value])
        return record

    # -- where we are -------------------------------------------------------
    @contextlib.contextmanager
    def running_on(self, service):
        """An RPC call: run a piece of another service inline, then come back."""
        previous, self.service = self.service, service
        try:
            yield
        finally:
            self.service = previous

    def host(self, name):
        return self._hosts[name]

    def hosts(self):
        return list(self._hosts.values())

    def host_exists(self, name):
        return name in self._hosts

    def driver(self, host_name):
        return FakeDriver(self.host(host_name), self.injected_failures())

    def injected_failures(self):
        fail_at = self.params.get("fail_at")
        if not fail_at:
            return []
        return [
            Failure(
                point=fail_at,
                exception=self.params.get("exception"),
                host=host,
                reason=self.params.get("reason"),
                inner_exception=self.params.get("inner_exception"),
            )
            for host in fail_hosts(self.params) or [None]  # None: every host
        ]

    def placement_race(self, point):
        """Whether a concurrent placement writer is injected at ``point`` here."""
        return any(f.applies(point, self.service) or f.applies(point, None) for f in self.injected_failures())

    def bug(self, number):
        return number in self.params.get("bugs", [])

    # -- records ------------------------------------------------------------
    def now(self):
        return timezone.now()

    def save_server(self, expected_task_state=()):
        """``instance.save(expected_task_state=...)``."""
        actual = self._stored_task_state
        if expected_task_state and actual not in expected_task_state:
            raise UnexpectedTaskStateError(
                instance_uuid=self.server.uuid,
                expected={"task_state": list(expected_task_state)},
                actual={"task_state": actual},
            )
        self.server.save()
        self._stored_task_state = self.server.task_state

    def save_migration(self):
        self.migration.save()

    def action_failed(self):
        """An event of the current action failed: the action's message becomes "Error"."""
        InstanceAction.objects.filter(pk=self.state["action_id"]).update(message="Error")

    def record_action(self, action):
        """``_record_action_start``: a new action with its own request id."""
        record = InstanceAction.objects.create(
            server=self.server,
            action=action,
            request_id=f"req-{uuid.uuid4()}",
            user_id=USER_ID,
            project_id=PROJECT_ID,
            start_time=self.now(),
        )
        self.state["action_id"] = record.pk
        self.state.setdefault("action_ids", []).append(record.pk)
        return record

    def log(self, level, message, *args):
        text = message % args if args else message
        LOG.log(getattr(logging, level), "[run %s] %s", self.run.pk, text)
        self.log_lines.append({"level": level, "service": self.service, "message": text})

    # -- handing on ---------------------------------------------------------
    def cast(self, step, host):
        """An RPC cast: ``step`` runs next, on ``host``'s queue."""
        assert self.next_cast is None, f"second cast {step} after {self.next_cast}"
        self.next_cast = (step, host)
