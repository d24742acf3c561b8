"""A Compute API per simulated cloud, ``/compute/<cloud>/v2.1/``: the subset of Nova's API the
``openstack`` command and openstacksdk use to resize a server and watch what happened.

Answers are shaped as Nova 34 shapes them for an admin (keys, their order and their presence per
microversion, status codes, ``{"itemNotFound": {"code": 404, "message": ...}}`` error documents,
``OpenStack-API-Version`` negotiation and its 400/406). The rules are the simulator's: a resize, a
cold migration, a confirm or a revert sent here is a run (``simulator.pipeline.start_run``, custom,
in the URL's cloud, on the named server, with no injected failure: the hosts' configured ones
apply), executed on the workers and listed on the dashboard like any other. Views translate;
they decide nothing Nova's API layer does not.

What is left out: Nova's other resources and actions (any action but resize, migrate,
confirmResize and revertResize is "There is no such action"), the legacy ``/v2`` endpoint (the
version list names v2.1 only), networks, images and volumes (a server has no addresses, no image,
no volume).
"""
import functools
import hashlib
import json
import re
import uuid
from collections import OrderedDict
from datetime import timezone
from types import SimpleNamespace
from urllib.parse import urlencode

from django.contrib.auth.models import AnonymousUser
from django.db.models import Max, Prefetch, Q
from django.http import HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

from simulator import api_schema, compute_api
from simulator import exceptions as exc
from simulator.context import PROJECT_ID, USER_ID
from simulator.models import Cloud, Flavor, InstanceAction, InstanceActionEvent, InstanceFault, Migration, Server
from simulator.pipeline import InvalidRun, start_run
from simulator.states import FAULT_STATUSES
from simulator.tasks import cast

from .auth import XAuthTokenAuthentication

MIN_VERSION = (2, 1)
MAX_VERSION = (2, 104)  # Nova 34 (nova/api/openstack/api_version_request.py)
VERSION_HEADER = "OpenStack-API-Version"
LEGACY_VERSION_HEADER = "X-OpenStack-Nova-API-Version"
MAX_LIMIT = 1000  # [api] max_limit
FAULT_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound", 405: "badMethod",
               409: "conflictingRequest", 413: "overLimit", 415: "badMediaType", 429: "overLimit",
               501: "notImplemented", 503: "serviceUnavailable"}
# The server actions this API takes: the run's ``action`` each one is, and its answer's status.
SERVER_ACTIONS = {"resize": ("resize", 202), "migrate": ("migrate", 202), "confirmResize": ("confirm", 204),
           "revertResize": ("revert", 202)}
PROGRESS_STATUSES = ("ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING")
NOT_AUTHENTICATED = "The request you have made requires authentication."
IDENTITY_VERSION = {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z"}  # Keystone's


class Fault(Exception):
    """An error answered as Nova answers it: ``{name: {"code", "message"}}``."""

    def __init__(self, status, message, headers=None):
        self.status, self.message, self.headers = status, message, headers or {}
        super().__init__(message)

    def response(self):
        body = {FAULT_NAMES.get(self.status, "computeFault"): {"code": self.status, "message": self.message}}
        if self.status in (413, 429) and "Retry-After" in self.headers:
            body[FAULT_NAMES[self.status]]["retryAfter"] = self.headers["Retry-After"]
        response = JsonResponse(body, status=self.status, content_type="application/json; charset=UTF-8")
        for key, value in self.headers.items():
            response[key] = value
        return response


class VersionFault(Fault):
    """A version the API cannot serve: answered before anything else, and (406) with the version asked."""

    def __init__(self, status, message, version=None):
        super().__init__(status, message)
        self.version = version


def not_found(message="The resource could not be found."):
    return Fault(404, message)


# -- times and ids as Nova prints them ---------------------------------------------------------
def isotime(value):
    """``nova.utils.isotime``: seconds, "Z" (a server's created/updated, a fault's created)."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def naive(value):
    """A database timestamp as Nova's JSON shows it: ISO 8601, UTC, no zone."""
    return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat() if value else None


def host_id(host):
    """``nova.utils.generate_hostid``: the host hashed with the project, "" without a host."""
    return hashlib.sha224((PROJECT_ID + host).encode()).hexdigest() if host else ""


def request_id():
    return f"req-{uuid.uuid4()}"


# -- microversions -----------------------------------------------------------------------------
def _version_text(version):
    return f"{version[0]}.{version[1]}"


def _asked_version(request):
    """The header's value for compute: ``OpenStack-API-Version: compute X`` (the last one naming
    compute), else ``X-OpenStack-Nova-API-Version``; None when neither says."""
    standard = request.headers.get(VERSION_HEADER)
    if standard:
        for value in reversed(standard.split(",")):
            parts = value.strip().split(None, 1)
            if len(parts) == 2 and parts[0].lower() == "compute":
                return parts[1].strip()
    legacy = request.headers.get(LEGACY_VERSION_HEADER)
    if legacy is not None:
        return legacy.split(",")[-1].strip()
    return None


def requested_version(request):
    """(major, minor): 2.1 when no version is asked, the maximum for "latest"; a 400 for what is no
    version, a 406 for one outside 2.1 .. 2.104."""
    text = _asked_version(request)
    if text is None:
        return MIN_VERSION
    if text == "latest":
        return MAX_VERSION
    match = re.match(r"^([1-9]\d*)\.([1-9]\d*|0)$", text)
    if not match:
        raise VersionFault(400, f"API Version String {text} is of invalid format. Must be of format MajorNum.MinorNum.")
    version = (int(match[1]), int(match[2]))
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise VersionFault(406, f"Version {_version_text(version)} is not supported by the API. Minimum is "
                                f"{_version_text(MIN_VERSION)} and maximum is {_version_text(MAX_VERSION)}.",
                           version)
    return version


def _versioned(response, version, req_id):
    if version is not None:
        response[VERSION_HEADER] = f"compute {_version_text(version)}"
        response[LEGACY_VERSION_HEADER] = _version_text(version)
        response["Vary"] = f"{VERSION_HEADER}, {LEGACY_VERSION_HEADER}"
    response["x-openstack-request-id"] = response["x-compute-request-id"] = req_id
    return response


# -- who asks ----------------------------------------------------------------------------------
def _unauthorized(request):
    """keystonemiddleware's answer to a request without a valid token."""
    body = {"error": {"code": 401, "title": "Unauthorized", "message": NOT_AUTHENTICATED}}
    response = JsonResponse(body, status=401, content_type="application/json; charset=UTF-8")
    response["WWW-Authenticate"] = f'Keystone uri="{request.build_absolute_uri(reverse("compute:identity"))}"'
    return response


def _caller(request):
    """The user of the ``X-Auth-Token``, anonymous without one; None when the token is not valid
    or the request needs one: writes always, reads as the REST API's policy says."""
    try:
        found = XAuthTokenAuthentication().authenticate(request)
    except AuthenticationFailed:
        return None
    caller = SimpleNamespace(method=request.method, user=found[0] if found else AnonymousUser(), META=request.META)
    allowed = all(permission().has_permission(caller, None) for permission in api_settings.DEFAULT_PERMISSION_CLASSES)
    return caller if allowed else None


class _RunRate:
    """The REST API's rate for starting runs (``API_RUN_RATE``) applies to runs started here."""

    throttle_scope = "runs"


def _throttled(caller):
    throttle = ScopedRateThrottle()
    if throttle.allow_request(caller, _RunRate()):
        return None
    wait = int(throttle.wait() or 1)
    return Fault(429, "This request was rate-limited.", {"Retry-After": str(wait)})


NOT_FOUND_PAGE = (  # what Nova's router answers a path or method it has no route for
    "<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n  <h1>404 Not Found</h1>\n"
    "  The resource could not be found.<br /><br />\n\n\n\n </body>\n</html>"
)


def _no_route(request):
    return _versioned(HttpResponse(NOT_FOUND_PAGE, status=404, content_type="text/html; charset=UTF-8"), None,
                      request_id())


def compute_view(*methods):
    """A view of ``/compute/<cloud>/v2.1/`` answering ``methods``: the token (401 as
    keystonemiddleware answers), the route (Nova's router's 404 page for another method), the
    microversion (400, 406), the cloud (404); the answer carries the version it was served at and
    a request id, as Nova's do."""

    def decorate(view):
        @csrf_exempt
        @functools.wraps(view)
        def answer(request, cloud, **kwargs):
            api = SimpleNamespace(request=request, caller=_caller(request), request_id=request_id(), version=None)
            if api.caller is None:
                return _versioned(_unauthorized(request), None, api.request_id)
            if request.method not in methods:
                return _no_route(request)
            try:
                api.version = requested_version(request)
                api.cloud = Cloud.objects.filter(name=cloud).first()
                if api.cloud is None:
                    raise not_found(f"Cloud {cloud} could not be found.")
                api.root = _root(request, api.cloud)
                response = view(api, **kwargs)
            except VersionFault as fault:
                response, api.version = fault.response(), fault.version
            except Fault as fault:
                response = fault.response()
            return _versioned(response, api.version, api.request_id)

        return answer

    return decorate


def _root(request, cloud):
    """The cloud's compute endpoint without its version: ``http://host/compute/<cloud>``."""
    return request.build_absolute_uri(reverse("compute:versions", args=[cloud.name])).rstrip("/")


def at_least(api, major, minor):
    return api.version >= (major, minor)


def _json(body, status=200):
    return JsonResponse(body, status=status)


def _links(api, collection, identifier):
    return [{"rel": "self", "href": f"{api.root}/v2.1/{collection}/{identifier}"},
            {"rel": "bookmark", "href": f"{api.root}/{collection}/{identifier}"}]


def _next_link(api, collection, marker):
    """The ``next`` link of a page: the request's query, sorted, with the last item as marker."""
    params = OrderedDict(sorted(api.request.GET.items()))
    params["marker"] = marker
    return [{"rel": "next", "href": f"{api.root}/v2.1/{collection}?{urlencode(params)}"}]


def _paged(api, key, path, page, limit, view, marker):
    """``{key: [view(item), ...]}`` with ``{key}_links`` (the next page, marked by ``marker`` of the
    last item) when the page is full, as Nova pages its collections."""
    document = {key: [view(item) for item in page]}
    if page and len(page) == limit:
        document[f"{key}_links"] = _next_link(api, path, marker(page[-1]))
    return _json(document)


def _limit_and_marker(api):
    """``common.get_limit_and_marker``: at most [api] max_limit."""
    limit = api.request.GET.get("limit")
    try:
        limit = min(MAX_LIMIT, int(limit)) if limit not in (None, "") else MAX_LIMIT
    except ValueError:
        raise Fault(400, "limit param must be an integer") from None
    if limit < 0:
        raise Fault(400, "limit param must be positive")
    return limit, api.request.GET.get("marker")


def _check_query(api, allowed, patterns=None):
    """A query the API's schema allows (from the microversion that closes it): each known
    parameter's value, then no other parameter ("Additional properties are not allowed")."""
    query = api.request.GET
    for name, pattern in (patterns or {}).items():
        if name in query:
            value = query[name]
            if pattern == "date-time":
                if parse_datetime(value) is None:
                    raise Fault(400, f"Invalid input for query parameters {name}. Value: {value}. "
                                     f"{value!r} is not a 'date-time'")
            elif not re.search(pattern, value) or value == "":
                problem = f"{value!r} should be non-empty" if value == "" else f"{value!r} does not match {pattern!r}"
                raise Fault(400, f"Invalid input for query parameters {name}. Value: {value}. {problem}")
    extra = [name for name in query if name not in allowed]
    if extra:
        verb = "was" if len(extra) == 1 else "were"
        raise Fault(400, f"Additional properties are not allowed ({', '.join(map(repr, extra))} {verb} unexpected)")


# How Nova words an unknown marker in the servers and flavors lists.
UNKNOWN_MARKER = "marker [{marker}] not found"


def _page(items, key, limit, marker, unknown="Marker {marker} could not be found."):
    """The items after ``marker`` (an item's ``key``), at most ``limit``; 400 for an unknown marker."""
    if marker is not None:
        keys = [str(getattr(item, key)) for item in items]
        if marker not in keys:
            raise Fault(400, unknown.format(marker=marker))
        items = items[keys.index(marker) + 1:]
    return items[:limit]


# -- version discovery -------------------------------------------------------------------------
def _version_document(root):
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": _version_text(MAX_VERSION),
        "min_version": _version_text(MIN_VERSION),
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": f"{root}/v2.1/"},
                  {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}],
    }


@require_safe
def versions(request, cloud):
    """``GET /``: the versions the endpoint serves (outside microversions, no token needed)."""
    found = Cloud.objects.filter(name=cloud).first()
    if found is None:
        return not_found(f"Cloud {cloud} could not be found.").response()
    document = _version_document(_root(request, found))
    entry = {key: document[key] for key in ("id", "status", "version", "min_version", "updated")}
    return _json({"versions": [{**entry, "links": [document["links"][0]]}]})


@require_safe
def version(request, cloud):
    """``GET /v2.1/``: the version with its microversion range (no token needed)."""
    req_id, asked = request_id(), None
    try:
        asked = requested_version(request)
        found = Cloud.objects.filter(name=cloud).first()
        if found is None:
            raise not_found(f"Cloud {cloud} could not be found.")
        response = _json({"version": _version_document(_root(request, found))})
    except VersionFault as fault:
        response, asked = fault.response(), fault.version
    except Fault as fault:
        response = fault.response()
    return _versioned(response, asked, req_id)


# -- servers -----------------------------------------------------------------------------------
SERVER_QUERY = Server.objects.select_related("host", "node", "flavor").prefetch_related(
    Prefetch("faults", queryset=InstanceFault.objects.order_by("created", "id"))
)


def _server_or_404(api, server_id):
    try:
        found = SERVER_QUERY.filter(cloud=api.cloud, uuid=uuid.UUID(server_id)).first()
    except ValueError:
        found = None
    if found is None:
        raise not_found(exc.InstanceNotFound(instance_id=server_id).format_message())
    return found


def _flavor(api, flavor):
    """The server's flavor: a link to it before 2.47, embedded from 2.47 (extra specs for an admin)."""
    if at_least(api, 2, 47):
        return {"vcpus": flavor.vcpus, "ram": flavor.memory_mb, "disk": flavor.root_gb,
                "ephemeral": flavor.ephemeral_gb, "swap": flavor.swap, "original_name": flavor.name,
                "extra_specs": {}}
    return {"id": flavor.flavorid, "links": [_links(api, "flavors", flavor.flavorid)[1]]}


def _fault(server):
    """The fault Nova's API shows: the latest, for an ERROR or DELETED server (``Server.api_fault``);
    its traceback (details) to an admin."""
    fault = server.api_fault(list(server.faults.all()))
    if fault is None:
        return None
    shown = {"code": fault.code, "created": isotime(fault.created), "message": fault.message}
    if fault.details:
        shown["details"] = fault.details
    return shown


def _host_status(server):
    """2.16's host_status: the compute service's state ("" without a host)."""
    if server.host is None:
        return ""
    return "UP" if server.host.service_up else "UNKNOWN"


def server_view(api, server, show=True):
    """A server as ``GET /servers/{id}`` shows it to an admin (``show``), or as ``/servers/detail``
    lists it (no server_groups from 2.71)."""
    host = server.host.name if server.host else None
    node = server.node.name if server.node else None
    view = {
        "accessIPv4": "", "accessIPv6": "", "addresses": {},
        "created": isotime(server.created),
        "flavor": _flavor(api, server.flavor),
        "hostId": host_id(host),
        "id": str(server.uuid),
        "image": "",
        "links": _links(api, "servers", server.uuid),
        "metadata": {},
        "name": server.name,
        "status": server.status,
        "tenant_id": PROJECT_ID,
        "user_id": USER_ID,
        "updated": isotime(server.updated),
        "OS-DCF:diskConfig": "MANUAL",
    }
    if server.status in FAULT_STATUSES and (fault := _fault(server)):
        view["fault"] = fault
    if server.status in PROGRESS_STATUSES:
        view["progress"] = 0
    view.update({
        "OS-EXT-AZ:availability_zone": "nova",
        "config_drive": "",
        "key_name": None,
        "OS-SRV-USG:launched_at": naive(server.created),
        "OS-SRV-USG:terminated_at": None,
        "OS-EXT-SRV-ATTR:host": host,
        "OS-EXT-SRV-ATTR:instance_name": f"instance-{server.pk:08x}",
        "OS-EXT-SRV-ATTR:hypervisor_hostname": node,
    })
    if at_least(api, 2, 3):
        view.update({
            "OS-EXT-SRV-ATTR:hostname": server.name,
            "OS-EXT-SRV-ATTR:kernel_id": "",
            "OS-EXT-SRV-ATTR:launch_index": 0,
            "OS-EXT-SRV-ATTR:ramdisk_id": "",
            "OS-EXT-SRV-ATTR:reservation_id": f"r-{server.uuid.hex[:8]}",
            "OS-EXT-SRV-ATTR:root_device_name": "/dev/sda",
            "OS-EXT-SRV-ATTR:user_data": None,
        })
    view.update({
        "OS-EXT-STS:task_state": server.task_state,
        "OS-EXT-STS:vm_state": server.vm_state,
        "OS-EXT-STS:power_state": server.power_state,
        "os-extended-volumes:volumes_attached": [],
    })
    for since, key, value in (
        ((2, 9), "locked", False),
        ((2, 16), "host_status", _host_status(server) if show else None),
        ((2, 19), "description", None),
        ((2, 26), "tags", []),
        ((2, 63), "trusted_image_certificates", None),
        ((2, 71), "server_groups", []),
        ((2, 73), "locked_reason", None),
        ((2, 96), "pinned_availability_zone", None),
        ((2, 100), "scheduler_hints", {}),
    ):
        if at_least(api, *since) and (show or key not in ("host_status", "server_groups")):
            view[key] = value
    if at_least(api, 2, 16) and not show:  # the list adds every server's host status at the end
        view["host_status"] = _host_status(server)
    return view


def _servers(api):
    """The cloud's servers newest first, filtered as ``GET /servers`` is (name: a regular
    expression; status, host), one page of them."""
    query = api.request.GET
    servers = list(SERVER_QUERY.filter(cloud=api.cloud).order_by("-created", "-id"))
    if name := query.get("name"):
        try:
            pattern = re.compile(name)
        except re.error:
            pattern = re.compile(re.escape(name))
        servers = [server for server in servers if pattern.search(server.name)]
    if status := query.get("status"):
        servers = [server for server in servers if server.status == status.upper()]
    if host := query.get("host"):
        servers = [server for server in servers if server.host and server.host.name == host]
    limit, marker = _limit_and_marker(api)
    return _page(servers, "uuid", limit, marker, unknown=UNKNOWN_MARKER), limit


@compute_view("GET", "HEAD")
def servers(api):
    page, limit = _servers(api)
    return _paged(api, "servers", "servers", page, limit,
                 lambda s: {"id": str(s.uuid), "name": s.name, "links": _links(api, "servers", s.uuid)},
                 lambda s: s.uuid)


@compute_view("GET", "HEAD")
def servers_detail(api):
    page, limit = _servers(api)
    return _paged(api, "servers", "servers/detail", page, limit, lambda s: server_view(api, s, show=False),
                 lambda s: s.uuid)


@compute_view("GET", "HEAD")
def server(api, server_id):
    return _json({"server": server_view(api, _server_or_404(api, server_id))})


# -- the server's actions: runs ----------------------------------------------------------------
def _body(request):
    """The request's JSON document; Nova's 400 when it is none, or not ``{action: value}``."""
    try:
        body = json.loads(request.body or b"")
    except (ValueError, RecursionError):
        raise Fault(400, "Malformed request body") from None
    if not isinstance(body, dict):  # Nova's router finds no action in it
        raise not_found()
    if len(body) != 1:
        raise Fault(400, "Malformed request body")
    return next(iter(body.items()))


def _run_params(api, server, name, value):
    """The run an action is: custom, in this cloud, on this server, its body read as Nova reads it
    at this microversion; no failure injected (the hosts' configured ones apply)."""
    action = SERVER_ACTIONS[name][0]
    params = {"cloud": api.cloud.name, "server": str(server.uuid), "action": action}
    if action == "resize":
        params["new_flavor"] = str(value["flavorRef"])
        if not Flavor.objects.filter(cloud=api.cloud, flavorid=params["new_flavor"]).exists():
            # A flavorRef is a flavorid (a run would also take a name): the server's state is checked
            # first, as Nova checks it before looking the flavor up.
            compute_api.check_movable(server, "resize")
            raise Fault(400, exc.FlavorNotFound(flavor_id=params["new_flavor"]).format_message())
    elif action == "migrate" and api_schema.checked(name, api.version) and value and value.get("host"):
        params["dest_host"] = value["host"]
    return params


@compute_view("POST")
def server_action(api, server_id):
    """``POST /servers/{id}/action``: resize (202), migrate (202; a host from 2.56), confirmResize
    (204), revertResize (202). Each is a run; the answer's request id is its instance action's."""
    name, value = _body(api.request)
    if name not in SERVER_ACTIONS:
        raise Fault(400, f"There is no such action: {name}")
    if api_schema.checked(name, api.version) and (refused := api_schema.refusal(name, value)):
        raise Fault(400, refused.message)
    found = _server_or_404(api, server_id)
    if refused := _throttled(api.caller):
        raise refused
    try:
        run = start_run("custom", _run_params(api, found, name, value), on_cast=cast)
    except (InvalidRun, compute_api.RequestRejected) as error:
        raise Fault(error.status, error.message) from error
    # Nova's request id on the answer is the one its instance action records.
    api.request_id = InstanceAction.objects.get(pk=run.pipeline_state["action_id"]).request_id
    response = HttpResponse(status=SERVER_ACTIONS[name][1], content_type="application/json")
    response["Content-Length"] = "0"
    return response


# -- flavors -----------------------------------------------------------------------------------
def flavor_view(api, flavor, detail=True):
    if not detail:
        view = {"id": flavor.flavorid, "name": flavor.name, "links": _links(api, "flavors", flavor.flavorid)}
        if at_least(api, 2, 55):
            view["description"] = None
        return view
    view = {
        "id": flavor.flavorid,
        "name": flavor.name,
        "ram": flavor.memory_mb,
        "disk": flavor.root_gb,
        "swap": flavor.swap or (0 if at_least(api, 2, 75) else ""),
        "OS-FLV-EXT-DATA:ephemeral": flavor.ephemeral_gb,
        "OS-FLV-DISABLED:disabled": flavor.disabled,
        "vcpus": flavor.vcpus,
        "os-flavor-access:is_public": True,
        "rxtx_factor": 1.0,
        "links": _links(api, "flavors", flavor.flavorid),
    }
    if at_least(api, 2, 55):
        view["description"] = None
    if at_least(api, 2, 61):
        view["extra_specs"] = {}
    if at_least(api, 2, 102):
        del view["OS-FLV-DISABLED:disabled"], view["rxtx_factor"]
    return view


def _flavors(api):
    """The cloud's flavors by flavorid, filtered as ``GET /flavors`` is (minRam, minDisk, name),
    one page of them."""
    query = api.request.GET
    flavors = Flavor.objects.filter(cloud=api.cloud).order_by("flavorid")
    for key, field in (("minRam", "memory_mb__gte"), ("minDisk", "root_gb__gte")):
        if key in query:
            try:
                flavors = flavors.filter(**{field: int(query[key])})
            except ValueError:
                raise Fault(400, f"Invalid {key} filter [{query[key]}]") from None
    if "name" in query:
        flavors = flavors.filter(name=query["name"])
    limit, marker = _limit_and_marker(api)
    return _page(list(flavors), "flavorid", limit, marker, unknown=UNKNOWN_MARKER), limit


@compute_view("GET", "HEAD")
def flavors(api):
    page, limit = _flavors(api)
    return _paged(api, "flavors", "flavors", page, limit, lambda f: flavor_view(api, f, detail=False),
                 lambda f: f.flavorid)


@compute_view("GET", "HEAD")
def flavors_detail(api):
    page, limit = _flavors(api)
    return _paged(api, "flavors", "flavors/detail", page, limit, lambda f: flavor_view(api, f),
                 lambda f: f.flavorid)


@compute_view("GET", "HEAD")
def flavor(api, flavor_id):
    found = Flavor.objects.filter(cloud=api.cloud, flavorid=flavor_id).first()
    if found is None:
        raise not_found(exc.FlavorNotFound(flavor_id=flavor_id).format_message())
    return _json({"flavor": flavor_view(api, found)})


# -- instance actions --------------------------------------------------------------------------
def _action_view(api, action):
    view = {"action": action.action, "instance_uuid": str(action.server.uuid), "request_id": action.request_id,
            "user_id": action.user_id, "project_id": action.project_id, "start_time": naive(action.start_time),
            "message": action.message}
    if at_least(api, 2, 58):  # when an event last started or finished
        view["updated_at"] = naive(action.updated)
    return view


def _event_view(api, event):
    """An event as an admin sees it: the traceback always, the host from 2.62, the details from 2.84."""
    view = {"event": event.event, "start_time": naive(event.start_time), "finish_time": naive(event.finish_time),
            "result": event.result, "traceback": event.traceback or None}
    if at_least(api, 2, 62):
        view["host"] = event.host
        view["hostId"] = host_id(event.host)
    if at_least(api, 2, 84):
        view["details"] = event.details or None
    return view


def _actions(server):
    last = Max("events__finish_time"), Max("events__start_time")
    actions = InstanceAction.objects.filter(server=server).select_related("server").annotate(
        last_finish=last[0], last_start=last[1]).order_by("-start_time", "-id")
    for action in actions:
        action.updated = max(filter(None, (action.last_finish, action.last_start)), default=None)
    return list(actions)


@compute_view("GET", "HEAD")
def instance_actions(api, server_id):
    """``GET /servers/{id}/os-instance-actions``: newest first; from 2.58 paged by request id and
    filtered by changes-since (2.66: changes-before), with ``updated_at``."""
    found = _server_or_404(api, server_id)
    actions = _actions(found)
    limit = marker = None
    if at_least(api, 2, 58):
        allowed = ["limit", "marker", "changes-since"] + (["changes-before"] if at_least(api, 2, 66) else [])
        _check_query(api, allowed, {"limit": r"^[0-9]*$", "changes-since": "date-time", "changes-before": "date-time"})
        since, before = (parse_datetime(api.request.GET.get(key) or "") for key in ("changes-since", "changes-before"))
        if since and before and before < since:
            raise Fault(400, "The value of changes-since must be less than or equal to changes-before.")
        actions = [a for a in actions if (not since or (a.updated or a.start_time) >= since)
                   and (not before or (a.updated or a.start_time) <= before)]
        limit, marker = _limit_and_marker(api)
        # Nova's database API looks the marker up and names what it found: "Marker None ..."
        actions = _page(actions, "request_id", limit, marker, unknown="Marker None could not be found.")
    document = {"instanceActions": [_action_view(api, action) for action in actions]}
    if limit and len(actions) == limit:
        document["links"] = _next_link(api, f"servers/{found.uuid}/os-instance-actions", actions[-1].request_id)
    return _json(document)


@compute_view("GET", "HEAD")
def instance_action(api, server_id, request_id):
    """``GET /servers/{id}/os-instance-actions/{request_id}``: the action with its events, newest first."""
    found = _server_or_404(api, server_id)
    action = next((a for a in _actions(found) if a.request_id == request_id), None)
    if action is None:
        raise not_found(f"Action {request_id} not found")
    events = InstanceActionEvent.objects.filter(action=action).order_by("-start_time", "-id")
    return _json({"instanceAction": {**_action_view(api, action), "events": [_event_view(api, e) for e in events]}})


# -- migrations --------------------------------------------------------------------------------
MIGRATION_FILTERS = ["hidden", "host", "instance_uuid", "source_compute", "status", "migration_type"]


def migration_view(api, migration):
    view = {"id": migration.pk}
    if at_least(api, 2, 59):
        view["uuid"] = str(migration.uuid)
    view.update({
        "source_compute": migration.source_compute.name,
        "dest_compute": migration.dest_compute.name if migration.dest_compute else None,
        "source_node": migration.source_node.name,
        "dest_node": migration.dest_node.name if migration.dest_node else None,
        "dest_host": None,  # the destination's IP address: the simulated hosts have none
        "old_instance_type_id": migration.old_flavor_id,
        "new_instance_type_id": migration.new_flavor_id,
        "instance_uuid": str(migration.server.uuid),
        "status": migration.status,
    })
    if at_least(api, 2, 23):
        view["migration_type"] = migration.migration_type
    if at_least(api, 2, 80):
        view.update({"user_id": USER_ID, "project_id": PROJECT_ID})
    view.update({"created_at": naive(migration.created), "updated_at": naive(migration.updated)})
    return view


@compute_view("GET", "HEAD")
def migrations(api):
    """``GET /os-migrations``: the cloud's migrations, filtered (host: source or destination);
    from 2.59 newest first and paged by uuid, with changes-since (2.66 changes-before, 2.80
    user_id and project_id)."""
    query = api.request.GET
    found = Migration.objects.filter(cloud=api.cloud).select_related(
        "server", "source_compute", "source_node", "dest_compute", "dest_node")
    limit = marker = None
    if at_least(api, 2, 59):
        allowed = MIGRATION_FILTERS + ["limit", "marker", "changes-since"]
        allowed += (["changes-before"] if at_least(api, 2, 66) else []) + (
            ["user_id", "project_id"] if at_least(api, 2, 80) else [])
        _check_query(api, allowed, {"limit": r"^[0-9]*$", "changes-since": "date-time", "changes-before": "date-time"})
        since, before = (parse_datetime(query.get(key) or "") for key in ("changes-since", "changes-before"))
        if since and before and before < since:
            raise Fault(400, "The value of changes-since must be less than or equal to changes-before.")
        if since:
            found = found.filter(updated__gte=since)
        if before:
            found = found.filter(updated__lte=before)
        if query.get("user_id", USER_ID) != USER_ID or query.get("project_id", PROJECT_ID) != PROJECT_ID:
            found = found.none()
        found = found.order_by("-created", "-id")
    else:
        found = found.order_by("id")
    if host := query.get("host"):
        found = found.filter(Q(source_compute__name=host) | Q(dest_compute__name=host))
    for key, field in (("source_compute", "source_compute__name"), ("status", "status"),
                       ("migration_type", "migration_type")):
        if key in query:
            found = found.filter(**{field: query[key]})
    if "instance_uuid" in query:
        try:
            found = found.filter(server__uuid=uuid.UUID(query["instance_uuid"]))
        except ValueError:
            found = found.none()
    found = list(found)
    if at_least(api, 2, 59):
        limit, marker = _limit_and_marker(api)
        found = _page(found, "uuid", limit, marker)
    document = {"migrations": [migration_view(api, migration) for migration in found]}
    if limit and len(found) == limit:
        document["migrations_links"] = _next_link(api, "os-migrations", found[-1].uuid)
    return _json(document)


@csrf_exempt
def unknown(request, cloud, path=""):
    """Any other URL of the endpoint: Nova's router's 404 (once the token is checked)."""
    return _no_route(request) if _caller(request) else _versioned(_unauthorized(request), None, request_id())


# -- identity ----------------------------------------------------------------------------------
def _identity_document(request):
    href = request.build_absolute_uri(reverse("compute:identity-v3"))
    return {**IDENTITY_VERSION, "links": [{"rel": "self", "href": href}],
            "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]}


@require_safe
def identity(request):
    """``GET /identity/``: Keystone's version list (300 Multiple Choices), v3 only."""
    return _json({"versions": {"values": [_identity_document(request)]}}, status=300)


@require_safe
def identity_v3(request):
    """``GET /identity/v3``: Keystone's v3 version document, all the clients need to discover the
    identity service when they authenticate with an admin token (there is no catalog to read)."""
    return _json({"version": _identity_document(request)})
