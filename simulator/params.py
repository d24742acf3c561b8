"""The parameter space of a run, declared once.

Each parameter has a name, a kind, a default (what a ``custom`` run starts from), its allowed
values, help text, what an empty value means, and the message a bad value gets (Nova's own where
Nova has one: "Flavor m1.huge could not be found.", "Compute host host9 could not be found.").
The run form, the REST serializer (and so the OpenAPI schema), ``resize_run``'s options and the
README's parameter table are derived from ``PARAMS``; campaigns take their axes from it.
Checks that involve several parameters or the database are in ``validation.py``.
"""
import json
from dataclasses import dataclass

from .driver import DRIVERS, EXCEPTIONS, INNER_EXCEPTIONS, PLACEMENT_POINTS, POINTS
from .states import VmState

# Kinds of parameter.
TEXT = "text"  # a name of at most MAX_NAME characters
CHOICE = "choice"  # one of ``choices``
NAMES = "names"  # a non-empty list of names
CHOICES = "choices"  # a list of some of ``choices``
FLAG = "flag"  # true or false
INTEGER = "integer"
NUMBER = "number"

MAX_NAME = 255
MAX_STEP_DELAY = 60

# The flavors of a fresh cloud, nova/tests/fixtures/nova.py DefaultFlavorsFixture:
# flavorid, name, vcpus, ram, root disk.
DEFAULT_FLAVORS = [
    ("1", "m1.tiny", 1, 512, 1),
    ("2", "m1.small", 1, 2048, 20),
    ("3", "m1.medium", 2, 4096, 40),
    ("4", "m1.large", 4, 8192, 80),
    ("5", "m1.xlarge", 8, 16384, 160),
]
FLAVOR_NAMES = [name for _, name, *_ in DEFAULT_FLAVORS]

# Known Nova bugs a run can switch back on (their pre-fix behaviour).
KNOWN_BUGS = {
    "1825537": "finish_resize failure moves the migration's allocation back to the instance on the source "
    "(Rocky..Stein), although the server already lives on the dest.",
}

# The server action a run sends: (label, the action's name in Nova's API). A resize or a cold
# migration moves the server; confirm and revert answer a move that left a server of a shared cloud
# in VERIFY_RESIZE (a run of their own, as a user's later request is).
ACTIONS = {
    "resize": ("resize — to new_flavor", "resize"),
    "migrate": ("migrate — cold migration, same flavor", "migrate"),
    "confirm": ("confirm — confirmResize of a server left in VERIFY_RESIZE", "confirmResize"),
    "revert": ("revert — revertResize of a server left in VERIFY_RESIZE", "revertResize"),
}
MOVES = ("resize", "migrate")

# What the user does once the server reaches VERIFY_RESIZE: (label, how a run's summary says it).
THEN = {
    "none": ("leave it in VERIFY_RESIZE", "no confirm or revert"),
    "confirm": ("confirm", "then confirmResize"),
    "revert": ("revert", "then revertResize"),
}


# Groups of parameters, in the order the form shows them.
GROUP_CLOUD = "Scenario and cloud"
GROUP_RESIZE = "Server and resize"
GROUP_FAILURE = "Failure"
GROUP_AFTERWARDS = "Afterwards"
GROUPS = (GROUP_CLOUD, GROUP_RESIZE, GROUP_FAILURE, GROUP_AFTERWARDS)


@dataclass(frozen=True)
class Param:
    name: str
    group: str
    kind: str
    default: object
    help: str
    choices: tuple = ()  # (value, label) pairs of a CHOICE or CHOICES parameter
    required: bool = False  # an empty value (None, "") is refused
    nullable: bool = False  # None is a valid value (with the meaning ``empty``)
    empty: str = ""  # what an empty value means
    minimum: float | None = None
    maximum: float | None = None
    shape: str = ""  # what a value must be, e.g. "a whole number from 1 to 10"
    unknown: str = ""  # the message of a value outside ``choices``: {value}, {known}
    neutral: bool = False  # does not change the outcome a preset expects

    @property
    def option(self):
        """The command-line option: ``--new-flavor``."""
        return "--" + self.name.replace("_", "-")

    @property
    def values(self):
        return [value for value, _ in self.choices]

    def allowed(self):
        """What a value must be, e.g. "a whole number from 1 to 10", "one of none, confirm, revert"."""
        if self.shape:
            return self.shape
        if self.kind in (CHOICE, CHOICES):
            return ("one of " if self.kind == CHOICE else "any of ") + ", ".join(self.values)
        return _SHAPES[self.kind].format(p=self)

    def must_be(self):
        """The message of a value of the wrong type or range."""
        return f"{self.name} must be {self.allowed()}."

    def unknown_message(self, value):
        return self.unknown.format(value=value, known=", ".join(self.values))

    def default_text(self):
        """The default as the README, the form and ``--help`` show it."""
        if self.default is None or self.default == []:
            return self.empty or "none"
        if self.kind == FLAG:
            return "on" if self.default else "off"
        if self.kind == NAMES:
            return ",".join(self.default)
        return str(self.default)

    def default_json(self):
        return json.dumps(self.default)


_SHAPES = {
    TEXT: f"a name of at most {MAX_NAME} characters",
    NAMES: "a non-empty list of names",
    FLAG: "true or false",
    INTEGER: "a whole number from {p.minimum:g} to {p.maximum:g}",
    NUMBER: "a number from {p.minimum:g} to {p.maximum:g}",
}


def _pairs(names):
    return tuple((name, name) for name in names)


PARAMS = {
    p.name: p
    for p in [
        Param(
            "cloud", GROUP_CLOUD, TEXT, None,
            "Run in this existing cloud (e.g. demo), sharing its capacity with other servers and runs, "
            "instead of a fresh one.",
            nullable=True, empty="a fresh cloud run-<id> built from the preset",
        ),
        Param(
            "hosts", GROUP_CLOUD, NAMES, ["host1", "host2"], "Hosts of a fresh cloud.",
            nullable=True, empty="the cloud's", shape="a non-empty list of host names",
        ),
        Param(
            "driver", GROUP_CLOUD, CHOICE, "FakeDriver", "Fake driver of a fresh cloud's hosts.",
            choices=_pairs(DRIVERS), nullable=True, empty="the cloud's",
            unknown="Unknown driver '{value}'. Known: {known}.",
        ),
        Param(
            "extra_flavors", GROUP_CLOUD, NAMES, None,
            "Flavors a fresh cloud has besides Nova's defaults, each name:vcpus:memory_mb:root_gb "
            "(e.g. v1r2d1:1:2048:1028).",
            nullable=True, empty="Nova's default flavors only", shape="a list of name:vcpus:memory_mb:root_gb",
        ),
        Param(
            "server", GROUP_RESIZE, TEXT, "server1",
            "Server name (or uuid in an existing cloud); booted on the source host if it does not exist.",
            required=True, neutral=True,
        ),
        Param(
            "source_host", GROUP_RESIZE, TEXT, "host1", "Host the server is booted on.", required=True,
        ),
        Param(
            "action", GROUP_RESIZE, CHOICE, "resize",
            "The server action: a resize to new_flavor, a cold migration (same flavor; dest_host "
            "targets a host, microversion 2.56), or confirmResize / revertResize of a server of a shared cloud "
            "left in VERIFY_RESIZE.",
            choices=tuple((value, label) for value, (label, _) in ACTIONS.items()),
            unknown="Unknown action '{value}'. Known: {known}.",
        ),
        Param(
            "vm_state", GROUP_RESIZE, CHOICE, VmState.ACTIVE.value, "vm_state of the server before the resize.",
            choices=tuple(VmState.choices), unknown="Unknown vm_state '{value}'.",
        ),
        Param(
            "flavor", GROUP_RESIZE, TEXT, "m1.tiny", "Flavor the server is booted with (name or flavorid).", required=True,
        ),
        Param(
            "new_flavor", GROUP_RESIZE, TEXT, "m1.small", "Flavor to resize to (name or flavorid).",
            nullable=True, empty="none (a cold migration keeps the server's flavor)",
        ),
        Param(
            "dest_host", GROUP_RESIZE, TEXT, None,
            "Target host of a cold migration (action migrate, microversion 2.56; never rescheduled, as in "
            "Nova). A resize takes no host: Nova's API refuses one (400).",
            nullable=True, empty="the scheduler chooses",
        ),
        Param(
            "allow_resize_to_same_host", GROUP_RESIZE, FLAG, False, "Nova's option: the scheduler may pick the source host.",
        ),
        Param(
            "max_attempts", GROUP_RESIZE, INTEGER, 3, "Nova's [scheduler] max_attempts: hosts tried before NoValidHost.",
            minimum=1, maximum=10,
        ),
        Param(
            "fail_at", GROUP_FAILURE, CHOICE, None, "Where the failure is injected.",
            choices=tuple((name, f"{name} — {point.where}") for name, point in POINTS.items()),
            nullable=True, empty="no failure",
            unknown="Unknown failure point '{value}'. Known: {known}.",
        ),
        Param(
            "exception", GROUP_FAILURE, CHOICE, None, "Exception raised at the failure point.",
            choices=_pairs(EXCEPTIONS), nullable=True, empty="the point's default",
            unknown="Unknown exception '{value}'. Known: {known}.",
        ),
        Param(
            "inner_exception", GROUP_FAILURE, CHOICE, None, "Exception wrapped by InstanceFaultRollback.",
            choices=_pairs(INNER_EXCEPTIONS), nullable=True, empty="UnableToMigrateToSelf",
            unknown="Unknown inner exception '{value}'.",
        ),
        Param(
            "reason", GROUP_FAILURE, TEXT, None, "Reason given to the exception.", nullable=True, empty="the point's own",
        ),
        Param(
            "fail_host", GROUP_FAILURE, TEXT, None, "Host whose driver fails, or several, comma separated.",
            nullable=True, empty="every host",
        ),
        Param(
            "bugs", GROUP_FAILURE, CHOICES, [], "Known Nova bugs switched back on.",
            choices=tuple(KNOWN_BUGS.items()), empty="none", shape="a list of Launchpad bug numbers",
            unknown="Unknown bug '{value}'. Known: {known}.",
        ),
        Param(
            "then", GROUP_AFTERWARDS, CHOICE, "none",
            "What the user does once a resize or migrate leaves the server VERIFY_RESIZE.",
            choices=tuple((value, label) for value, (label, _) in THEN.items()),
            unknown="then must be one of {known}.",
        ),
        Param(
            "step_delay", GROUP_AFTERWARDS, NUMBER, 0, "Seconds each step takes, to watch a run or make runs contend.",
            minimum=0, maximum=MAX_STEP_DELAY, shape=f"a number of seconds from 0 to {MAX_STEP_DELAY}", neutral=True,
        ),
    ]
}
DEFAULTS = {name: p.default for name, p in PARAMS.items()}


class ParamError(Exception):
    """A parameter is invalid; ``field`` names it."""

    def __init__(self, field, message):
        self.field = field
        self.message = message
        super().__init__(message)


def fail_hosts(params):
    """The hosts whose driver fails (``fail_host`` names one, or several comma separated); [] for
    every host."""
    return [name.strip() for name in (params.get("fail_host") or "").split(",") if name.strip()]


def flavor_rows(params):
    """The flavors of a fresh cloud for these parameters: Nova's defaults, then the extra ones
    (flavorids following the defaults'), as (flavorid, name, vcpus, memory_mb, root_gb)."""
    rows = list(DEFAULT_FLAVORS)
    for number, spec in enumerate(params.get("extra_flavors") or [], start=len(rows) + 1):
        name, vcpus, memory_mb, root_gb = spec.split(":")
        rows.append((str(number), name, int(vcpus), int(memory_mb), int(root_gb)))
    return rows


def exceptions_for(point):
    """The exceptions a failure point can raise: none for a placement write (it fails with a
    generation conflict), any of the catalogue elsewhere."""
    return [] if point in PLACEMENT_POINTS else list(EXCEPTIONS)


def injected(params):
    """What a run injected: failure point, exception, host, the user's action, bugs; and a summary."""
    point = params.get("fail_at")
    exception = host = None
    if point is None:
        failure = "no failure injected"
    elif point in PLACEMENT_POINTS:
        exception = "409 placement.concurrent_update"
        failure = f"{point}: {exception}"
    else:
        exception = params.get("exception") or POINTS[point].default_exception
        if exception == "InstanceFaultRollback":
            inner = params.get("inner_exception") or PARAMS["inner_exception"].empty
            exception = f"InstanceFaultRollback({inner})"
        if POINTS[point].runs_on == "conductor":
            where = "in the scheduler"
        else:
            host = params.get("fail_host")
            where = f"on {', '.join(fail_hosts(params))}" if host else "on every host"
        failure = f"{point} raises {exception} {where}"
    bugs = list(params.get("bugs") or [])
    then = params.get("then") or "none"
    action = params.get("action") or "resize"
    if action in ACTIONS and action not in MOVES:
        request = ACTIONS[action][1]  # a confirm or revert run is that request
    else:
        request = THEN[then][1] if then in THEN else then  # what follows the move
    bugs_text = f"bug{'s' if len(bugs) > 1 else ''} {', '.join(bugs)} on" if bugs else "known bugs off"
    return {
        "fail_at": point,
        "exception": exception,
        "fail_host": host,
        "then": then,
        "bugs": bugs,
        "summary": " · ".join([failure, request, bugs_text]),
    }


def markdown_table():
    """The README's table of the parameters: the REST/form name, the ``resize_run`` option, what it
    means, the values it takes and the default a ``custom`` run starts from."""
    lines = ["| parameter | option | meaning | allowed | default |", "|---|---|---|---|---|"]
    for p in PARAMS.values():
        if p.kind in (CHOICE, CHOICES):
            allowed = ("" if p.kind == CHOICE else "any of ") + ", ".join(f"`{value}`" for value in p.values)
        else:
            allowed = p.allowed()
        lines.append(f"| `{p.name}` | `{p.option}` | {p.help} | {allowed} | {p.default_text()} |")
    return "\n".join(lines)
