"""A run's parameters, completed and checked: each against its declaration in ``params.py``,
then the rules that involve several of them or the database (hosts and flavors that exist, the
server of an existing cloud, what a failure point can raise)."""
from . import exceptions as exc
from .cloud import find_server
from .driver import POINTS
from .models import Cloud, Host
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


def resolve(scenario_name, overrides):
    """The complete, validated parameters of a run: the preset's, then ``overrides``."""
    if scenario_name == CUSTOM:
        base = dict(DEFAULTS)
    elif scenario_name in SCENARIOS:
        base = SCENARIOS[scenario_name].all_params()
    else:
        raise ParamError("scenario", SCENARIO.unknown_message(scenario_name))
    unknown = sorted(set(overrides) - set(PARAMS))
    if unknown:
        raise ParamError(unknown[0], f"Unknown parameter '{unknown[0]}'.")
    params = {**base, **overrides}
    for param in PARAMS.values():
        params[param.name] = _checked(param, params[param.name])
    if params["action"] == "migrate" and "new_flavor" not in overrides:
        params["new_flavor"] = None  # the preset's or the default's resize flavor does not apply
    _check_action(params)
    _check_cloud(params, overrides)
    _check_failure(params)
    return params


def _check_action(params):
    """A resize needs a new flavor; a cold migration keeps the server's (its body has no flavorRef)."""
    if params["action"] == "resize" and not params["new_flavor"]:
        raise ParamError("new_flavor", "new_flavor is required for a resize.")
    if params["action"] == "migrate":
        if params["new_flavor"]:
            raise ParamError("new_flavor", "A cold migration keeps the server's flavor: leave new_flavor empty.")


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
    for key in ("source_host", "dest_host"):
        if params[key] and params[key] not in host_names:
            raise _host_not_found(key, params[key])
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
