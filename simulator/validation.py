"""A run's parameters, completed and checked: each against its declaration in ``params.py``,
then the rules that involve several of them or the database (hosts and flavors that exist, the
server of an existing cloud, what a failure point can raise), then the request's body as Nova's
API schema takes it (``api_schema``: a resize takes no host, a cold migration no flavor)."""
from django.db.models import Q

from . import api_schema
from . import exceptions as exc
from .cloud import find_server
from .driver import POINTS
from .models import Cloud, Flavor, Host
from .params import (
    CHOICE,
    CHOICES,
    DEFAULT_FLAVORS,
    DEFAULTS,
    FLAG,
    INTEGER,
    MAX_NAME,
    NAMES,
    PARAMS,
    TEXT,
    ParamError,
    exceptions_for,
    fail_hosts,
    flavor_rows,
)
from .presets import CUSTOM, SCENARIO, SCENARIOS


def _base(scenario_name):
    """What a run starts from: the preset's parameters, or the defaults (custom)."""
    if scenario_name == CUSTOM:
        return dict(DEFAULTS)
    if scenario_name in SCENARIOS:
        return SCENARIOS[scenario_name].all_params()
    raise ParamError("scenario", SCENARIO.unknown_message(scenario_name))


def _without_resize_flavor(params, overrides):
    """A cold migration keeps the server's flavor: the preset's or the default's resize flavor,
    which it did not ask for, does not go into its request."""
    if params["action"] == "migrate" and "new_flavor" not in overrides:
        params["new_flavor"] = None


def resolve(scenario_name, overrides):
    """The complete, validated parameters of a run: the preset's, then ``overrides``. The cloud
    they describe is checked first (hosts, flavors, the failure), then the request as Nova's API
    takes it (the action's body against Nova's schema)."""
    base = _base(scenario_name)
    unknown = sorted(set(overrides) - set(PARAMS))
    if unknown:
        raise ParamError(unknown[0], f"Unknown parameter '{unknown[0]}'.")
    params = {**base, **overrides}
    for param in PARAMS.values():
        params[param.name] = _checked(param, params[param.name])
    _without_resize_flavor(params, overrides)
    _check_cloud(params, overrides)
    _check_failure(params)
    _check_request(params)
    return params


def requested(scenario_name, overrides):
    """The parameters of a request as it was made, whether or not it is accepted: the preset's,
    then ``overrides`` (each value normalised where it is valid, kept as given where not). What a
    refused request is replayed in Nova with."""
    params = {**_base(scenario_name), **overrides}
    for param in PARAMS.values():
        try:
            params[param.name] = _checked(param, params.get(param.name))
        except ParamError:
            pass
    if params.get("action") in ("resize", "migrate"):
        _without_resize_flavor(params, overrides)
    return params


def _check_request(params):
    """The server action's body against Nova's request schema: a resize takes no host, a cold
    migration no flavor (``api_schema``). What the compute API then checks against the server
    and the cloud (its state, the flavor, the target host) is in ``compute_api``."""
    if api_schema.refusal(*api_schema.action_body(params, params["new_flavor"])):
        # worded with the body Nova would have received: new_flavor as its flavorid
        raise api_schema.refusal(*api_schema.action_body(params, _flavor_ref(params)))


def _flavor_ref(params):
    """``new_flavor`` as the API's flavorRef: the flavorid of the flavor it names (by name or
    flavorid) in the run's cloud, else as given."""
    ref = params["new_flavor"]
    if not ref:
        return ref
    if params["cloud"]:
        flavor = Flavor.objects.filter(Q(flavorid=ref) | Q(name=ref), cloud__name=params["cloud"]).first()
        return flavor.flavorid if flavor else ref
    return next((flavorid for flavorid, name, *_ in flavor_rows(params) if ref in (flavorid, name)), ref)


def _empty(value):
    return value is None or value == "" or value == []


def _checked(param, value):
    """One parameter's value, normalised (names stripped, bugs sorted), or a ParamError."""
    if isinstance(value, str) and param.kind in (TEXT, CHOICE):
        value = value.strip()
    if _empty(value) and param.kind not in (FLAG, CHOICES):
        if param.required:
            raise ParamError(param.name, f"{param.name} is required.")
        if param.nullable:
            return None
    if param.kind == TEXT:
        if not isinstance(value, str) or len(value) > MAX_NAME:
            raise ParamError(param.name, param.must_be())
        return value
    if param.kind == CHOICE:
        if value not in param.values:
            raise ParamError(param.name, param.unknown_message(value))
        return value
    if param.kind == NAMES:
        if not isinstance(value, list) or not value or not all(_name(v) for v in value):
            raise ParamError(param.name, param.must_be())
        return [v.strip() for v in value]
    if param.kind == CHOICES:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ParamError(param.name, param.must_be())
        for item in value:
            if item not in param.values:
                raise ParamError(param.name, param.unknown_message(item))
        return sorted(set(value))
    if param.kind == FLAG:
        if not isinstance(value, bool):
            raise ParamError(param.name, param.must_be())
        return value
    number = int if param.kind == INTEGER else (int, float)
    if isinstance(value, bool) or not isinstance(value, number) or not param.minimum <= value <= param.maximum:
        raise ParamError(param.name, param.must_be())
    return value


def _name(value):
    return isinstance(value, str) and value.strip() and len(value) <= MAX_NAME


def _host_not_found(field, name):
    return ParamError(field, exc.ComputeHostNotFound(host=name).format_message())


def _check_cloud(params, overrides):
    """The hosts, flavor and server against the cloud the run will use."""
    if params["cloud"]:
        cloud = Cloud.objects.filter(name=params["cloud"]).first()
        if cloud is None:
            raise ParamError("cloud", f"Cloud {params['cloud']} does not exist (python manage.py seed_demo builds 'demo').")
        if params["extra_flavors"]:
            raise ParamError("extra_flavors", "A shared cloud has its own flavors: extra_flavors is for a fresh cloud.")
        params["hosts"] = params["driver"] = None  # the cloud's
        host_names = set(Host.objects.filter(cloud=cloud).values_list("name", flat=True))
        server = find_server(cloud, params["server"])
        if server is not None:
            host = server.host.name if server.host else None
            for key, actual, accepted in (
                ("source_host", host, {host}),
                ("flavor", server.flavor.name, {server.flavor.name, server.flavor.flavorid}),
            ):
                if key in overrides and overrides[key] not in accepted:
                    raise ParamError(key, f"Server {server.name} has {key} {actual}, not {overrides[key]}.")
                params[key] = actual
    else:
        for key in ("hosts", "driver"):
            if params[key] is None:
                raise ParamError(key, PARAMS[key].must_be())
        _check_extra_flavors(params)
        host_names = set(params["hosts"])
        if len(host_names) != len(params["hosts"]):
            raise ParamError("hosts", "Host names must be unique in a cloud.")
        if params["flavor"] not in {name for flavor in flavor_rows(params) for name in flavor[:2]}:
            raise ParamError("flavor", exc.FlavorNotFound(flavor_id=params["flavor"]).format_message())
    if params["source_host"] not in host_names:
        raise _host_not_found("source_host", params["source_host"])
    for name in fail_hosts(params):
        if name not in host_names:
            raise _host_not_found("fail_host", name)


def _check_extra_flavors(params):
    """Each extra flavor is name:vcpus:memory_mb:root_gb with whole numbers, and a new name."""
    param, seen = PARAMS["extra_flavors"], {name for _, name, *_ in DEFAULT_FLAVORS}
    for spec in params["extra_flavors"] or []:
        parts = spec.split(":")
        if len(parts) != 4 or not parts[0] or not all(p.isdigit() for p in parts[1:]) or not all(
            int(p) > 0 for p in parts[1:3]
        ):
            raise ParamError(param.name, f"{param.must_be()[:-1]}, not {spec!r}.")
        if parts[0] in seen:
            raise ParamError(param.name, exc.FlavorExists(name=parts[0]).format_message())
        seen.add(parts[0])


def _check_failure(params):
    """What the failure point can raise, where it runs, and what goes with InstanceFaultRollback."""
    point, exception = params["fail_at"], params["exception"]
    if point is None:
        for key in ("exception", "inner_exception", "reason", "fail_host"):
            if params[key]:
                raise ParamError(key, f"{key} needs fail_at: say where the failure is injected.")
        return
    if exception and exception not in exceptions_for(point):
        raise ParamError(
            "exception",
            f"{point} fails with a placement generation conflict (409 placement.concurrent_update); "
            "it takes no exception.",
        )
    if POINTS[point].runs_on == "conductor" and params["fail_host"]:
        raise ParamError("fail_host", f"{point} runs in the conductor, not on a compute host.")
    if params["inner_exception"] and (exception or POINTS[point].default_exception) != "InstanceFaultRollback":
        raise ParamError("inner_exception", "inner_exception goes with the InstanceFaultRollback exception.")
