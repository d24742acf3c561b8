"""Placement's API for each cloud, read-only: ``/placement/<cloud>/`` answers the requests the real
clients make (``openstack resource provider …``, osc-placement) as Placement 16.0 (microversions
1.0–1.39) answers them.

The numbers are the simulator's (``simulator.placement``: the same functions the dashboard's pages
and REST API read); this module only shapes them per microversion and speaks Placement's protocol:

- the microversion comes from ``OpenStack-API-Version: placement X.Y`` (none: 1.0, ``latest``:
  1.39); every answer names it in ``OpenStack-API-Version`` with ``Vary: openstack-api-version``
  (an error raised outside a handler — a provider or a route not found — carries only the
  former, as Placement's); a version Placement does not have is a 406 that states
  ``max_version``/``min_version`` (what the clients negotiate with), a malformed one a 400;
- fields appear from the microversion that added them, ``Cache-Control: no-cache`` and
  ``Last-Modified`` from 1.15 (the time of the answer: the simulator keeps no modification times);
- errors are Placement's document, ``{"errors": [{status, title, detail, code, request_id}]}``
  with ``code`` from 1.23, the detail in webob's words as Placement sends it (the clients print
  its last line), and every response has an ``x-openstack-request-id``;
- credentials are a dashboard API token in ``X-Auth-Token`` (``--os-auth-type admin_token``),
  read with the REST API's policy (open in local debug mode, a token needed otherwise); the root
  document needs none, as Placement's.
"""
import json
import re
import uuid as uuidlib
from http import HTTPStatus

import jsonschema
from django.utils import timezone
from django.utils.http import http_date
from rest_framework import exceptions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from simulator import placement
from simulator.models import Cloud, ResourceProvider
from simulator.states import RESOURCE_CLASSES

from .auth import XAuthTokenAuthentication

SERVICE_TYPE = "placement"
VERSION_HEADER = "OpenStack-API-Version"
# Placement 16.0's microversions, in order (placement/microversion.py).
VERSIONS = [f"1.{minor}" for minor in range(40)]
MIN_VERSION, MAX_VERSION = VERSIONS[0], VERSIONS[-1]
# From which microversion a field or behaviour appears.
LINK_AGGREGATES, LINK_TRAITS, LINK_ALLOCATIONS = (1, 1), (1, 6), (1, 11)
CONSUMER_PROJECT_USER = (1, 12)
PROVIDER_TREE = (1, 14)
CACHE_HEADERS = (1, 15)
ERROR_CODES = (1, 23)
CONSUMER_GENERATION = (1, 28)
CONSUMER_TYPE = (1, 38)
TOTAL_USAGES = (1, 9)
# What ``consumer_type=`` may be (Placement's schema): a type, "all" or "unknown".
CONSUMER_TYPE_PATTERN = "^[A-Z0-9_]+$|^all|^unknown$"


# -- errors ---------------------------------------------------------------------------------------
class NotAcceptable(placement.PlacementError):
    status = 406
    title = "Not Acceptable"

    def wire_detail(self, request):
        # webob's template, with the request's Accept header substituted (left as is without one).
        accept = request.META.get("HTTP_ACCEPT", "${HTTP_ACCEPT}")
        return (f"The resource could not be generated that was acceptable to your browser (content of type "
                f"{accept}. \n\n {self.detail}")


class UnsupportedVersion(NotAcceptable):
    """A microversion Placement does not have: the document says which ones it has."""

    def document(self, request_id=None):
        document = super().document(request_id)
        document["errors"][0].update(max_version=MAX_VERSION, min_version=MIN_VERSION)
        return document


class MethodNotAllowed(placement.PlacementError):
    status = 405
    title = "Method Not Allowed"

    def wire_detail(self, request):
        return f"The method {request.method} is not allowed for this resource. \n\n {self.detail}"


class Unauthorized(placement.PlacementError):
    status = 401
    title = "Unauthorized"

    def wire_detail(self, request):
        return self.detail


class NotFound(placement.NotFound):
    """A 404; ``vary`` is False for the ones Placement raises outside a handler (an unknown
    route, a provider that does not exist), whose answer carries no ``Vary`` header."""

    def __init__(self, detail="", vary=True):
        self.vary = vary
        super().__init__(detail)


def wire_detail(error, request):
    """The detail as Placement sends it: webob's explanation of the status, then the detail, on
    one line (webob turns its template's line breaks into spaces and drops tags)."""
    if hasattr(error, "wire_detail"):
        return error.wire_detail(request)
    return f"{error.explanation}\n\n {_strip_tags(error.detail)}  "


def _strip_tags(text):
    """webob's ``strip_tags``: line breaks become spaces, ``<br>`` a line break, tags go."""
    text = str(text).replace("\n", " ").replace("\r", "")
    return re.sub(r"<.*?>", "", re.sub(r"<br.*?>", "\n", text, flags=re.I | re.S), flags=re.S)


# -- microversions --------------------------------------------------------------------------------
def requested_version(request):
    """The microversion of the request, as a (major, minor) tuple, as microversion-parse reads it:
    the last ``placement`` entry of the header (repeated headers are folded), none is the
    minimum, ``latest`` the maximum. Raises UnsupportedVersion (406) or a 400."""
    wanted = None
    for entry in reversed(request.META.get("HTTP_OPENSTACK_API_VERSION", "").split(",")):
        words = entry.split(None, 1)
        if len(words) == 2 and words[0].lower() == SERVICE_TYPE:
            wanted = words[1].strip()
            break
    wanted = wanted or MIN_VERSION
    if wanted == "latest":
        wanted = MAX_VERSION
    parts = wanted.split(".", 1)
    try:
        numbers = tuple(int(part) for part in parts)
    except ValueError as error:
        raise placement.PlacementError(f"Invalid microversion: invalid version string: {wanted}; {error}") from None
    if len(numbers) == 1:
        raise placement.PlacementError(
            f"Invalid microversion: invalid version string: {wanted}; "
            "Version.__new__() missing 1 required positional argument: 'minor'"
        )
    if "%d.%d" % numbers not in VERSIONS:
        raise UnsupportedVersion(f"Invalid microversion: Unacceptable version header: {wanted}")
    return numbers


# -- rendering ------------------------------------------------------------------------------------
class PlacementJSONRenderer(BaseRenderer):
    """JSON as Placement writes it (``json.dumps``' separators), ``Content-Type: application/json``."""

    media_type = "application/json"
    format = "json"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return b"" if data is None else json.dumps(data).encode()


class AlwaysJSON(BaseContentNegotiation):
    """Placement's handlers check ``Accept`` themselves (``check_accept``); everything is JSON."""

    def select_parser(self, request, parsers):
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def accepts_json(request):
    """Placement's ``check_accept('application/json')``: no Accept header, or one JSON satisfies."""
    return not request.META.get("HTTP_ACCEPT") or request.accepts("application/json")


def in_class_order(amounts):
    """A {resource class: …} dict in Placement's order of the standard classes (VCPU, MEMORY_MB,
    DISK_GB: the order of their ids), as its answers list them; other keys after them."""
    order = {rc: position for position, rc in enumerate(RESOURCE_CLASSES)}
    return {key: amounts[key] for key in sorted(amounts, key=lambda key: order.get(key, len(order)))}


def is_uuid(value):
    """Whether ``value`` is a uuid as Placement stores them (lower case, with dashes): a path
    naming one otherwise finds nothing there."""
    try:
        return str(uuidlib.UUID(value)) == value
    except (ValueError, TypeError, AttributeError):
        return False


# -- views ----------------------------------------------------------------------------------------
class PlacementView(APIView):
    """What every Placement view shares: the token, the REST API's read policy (DRF's default
    permission classes), the microversion, the cloud, Placement's headers and errors."""

    authentication_classes = [XAuthTokenAuthentication]
    renderer_classes = [PlacementJSONRenderer]
    content_negotiation_class = AlwaysJSON
    http_method_names = ["get"]
    schema = None  # not part of the REST API's OpenAPI document
    # The first microversion the endpoint exists at (below it: a bare 404, as Placement's).
    since = (1, 0)
    check_accept = True

    def initial(self, request, *args, **kwargs):
        self.microversion = None
        request.placement_request_id = f"req-{uuidlib.uuid4()}"
        super().initial(request, *args, **kwargs)  # authentication and permissions: 401 first
        self.microversion = requested_version(request)
        self.cloud = Cloud.objects.filter(name=kwargs.get("cloud")).first() if "cloud" in kwargs else None
        if self.cloud is None:
            named = f"named {kwargs['cloud']}" if "cloud" in kwargs else "here"
            raise NotFound(f"No cloud {named}: each cloud's Placement API is at /placement/NAME/.", vary=False)
        if self.microversion < self.since:
            raise NotFound()
        if self.check_accept and not accepts_json(request):
            raise NotAcceptable("Only application/json is provided")

    @property
    def default_response_headers(self):
        return {}  # no Allow on every answer (DRF's); a 405 states it

    def wants(self, version):
        return self.microversion >= version

    provider_not_found = "No resource provider with uuid {uuid} found"

    def provider(self, uuid, vary=True):
        """The provider ``uuid`` of this cloud, or Placement's 404 (``provider_not_found``)."""
        found = ResourceProvider.objects.filter(cloud=self.cloud, uuid=uuid).first() if is_uuid(uuid) else None
        if found is None:
            raise NotFound(self.provider_not_found.format(uuid=uuid), vary=vary)
        return found

    def handle_exception(self, exc):
        headers = {}
        if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            error = Unauthorized("The request you have made requires authentication.")
            headers["WWW-Authenticate"] = self.get_authenticate_header(self.request)
        elif isinstance(exc, exceptions.MethodNotAllowed):
            error = MethodNotAllowed("The method specified is not allowed for this resource.")
            headers["Allow"] = ", ".join(self.allowed_methods)
        elif isinstance(exc, placement.PlacementError):
            error = exc
        elif isinstance(exc, exceptions.APIException):  # anything else DRF refuses, in the same shape
            error = placement.PlacementError(str(exc.detail))
            error.status, error.title = exc.status_code, HTTPStatus(exc.status_code).phrase
        else:
            raise exc
        document = error.document(request_id=self.request.placement_request_id)
        entry = document["errors"][0]
        entry["detail"] = wire_detail(error, self.request)
        if self.microversion is None or self.microversion < ERROR_CODES:
            del entry["code"]
        response = Response(document, status=error.status, headers=headers)
        response.placement_vary = getattr(error, "vary", True)
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if self.microversion is not None:
            response[VERSION_HEADER] = "%s %d.%d" % (SERVICE_TYPE, *self.microversion)
            if getattr(response, "placement_vary", True):
                response["Vary"] = VERSION_HEADER.lower()
            if response.status_code < 400 and self.wants(CACHE_HEADERS):
                response["Cache-Control"] = "no-cache"
                response["Last-Modified"] = http_date(timezone.now().timestamp())
        response["x-openstack-request-id"] = request.placement_request_id
        return response

    # -- documents --------------------------------------------------------------------------------
    def provider_document(self, provider):
        base = f"/placement/{self.cloud.name}/resource_providers/{provider.uuid}"
        rels = ["inventories", "usages"]
        rels += [rel for rel, since in (("aggregates", LINK_AGGREGATES), ("traits", LINK_TRAITS),
                                        ("allocations", LINK_ALLOCATIONS)) if self.wants(since)]
        document = {
            "uuid": str(provider.uuid),
            "name": provider.name,
            "generation": provider.generation,
            "links": [{"rel": "self", "href": base}] + [{"rel": rel, "href": f"{base}/{rel}"} for rel in rels],
        }
        if self.wants(PROVIDER_TREE):
            # Every provider here is a compute node: a root, with no parent.
            document.update(parent_provider_uuid=None, root_provider_uuid=str(provider.uuid))
        return document


def invalid_query(message):
    return placement.PlacementError(f"Invalid query string parameters: {message}")


def provider_filters_schema(version):
    """The query parameters ``GET /resource_providers`` takes at ``version``."""
    properties = {"name": {"type": "string"}, "uuid": {"type": "string", "format": "uuid"}}
    if version >= (1, 3):
        properties["member_of"] = {"type": "string"}
    if version >= (1, 4):
        properties["resources"] = {"type": "string"}
    if version >= PROVIDER_TREE:
        properties["in_tree"] = {"type": "string", "format": "uuid"}
    if version >= (1, 18):
        properties["required"] = {"type": "string"}
    return {"type": "object", "properties": properties, "additionalProperties": False}


def usages_schema(version):
    """The query parameters ``GET /usages`` takes at ``version`` (``consumer_type`` from 1.38)."""
    name = {"type": "string", "minLength": 1, "maxLength": 255}
    properties = {"project_id": name, "user_id": name}
    if version >= CONSUMER_TYPE:
        properties["consumer_type"] = {"type": "string", "pattern": CONSUMER_TYPE_PATTERN, "minLength": 1, "maxLength": 255}
    return {"type": "object", "properties": properties, "required": ["project_id"], "additionalProperties": False}


def check_query(request, schema):
    """The query string against Placement's schema for it (the last value of a repeated
    parameter counts); a 400 in jsonschema's words, as Placement's."""
    try:
        jsonschema.validate(request.GET.dict(), schema, format_checker=jsonschema.FormatChecker())
    except jsonschema.ValidationError as error:
        raise invalid_query(error) from None


class Root(PlacementView):
    """``GET /``: the version document; no credentials needed."""

    authentication_classes = []
    permission_classes = []
    check_accept = False

    def get(self, request, cloud):
        return Response({"versions": [{
            "id": f"v{MIN_VERSION}",
            "max_version": MAX_VERSION,
            "min_version": MIN_VERSION,
            "status": "CURRENT",
            "links": [{"rel": "self", "href": ""}],
        }]})


class ProviderList(PlacementView):
    """``GET /resource_providers?name=&uuid=&in_tree=&resources=``."""

    def get(self, request, cloud):
        check_query(request, provider_filters_schema(self.microversion))
        for name, what in (("member_of", "aggregates"), ("required", "traits")):
            if name in request.GET:
                raise invalid_query(f"'{name}' is not supported here: the simulated providers have no {what}.")
        providers = ResourceProvider.objects.filter(cloud=self.cloud).order_by("id")
        if "name" in request.GET:
            providers = providers.filter(name=request.GET["name"])
        for name in ("uuid", "in_tree"):  # every provider is the root of its own tree
            if name in request.GET:
                providers = providers.filter(uuid=request.GET[name])
        if "resources" in request.GET:
            resources = self.resources(request.GET["resources"])
            fitting = {c["provider"].pk for c in placement.allocation_candidates(self.cloud, resources, limit=None)}
            providers = [p for p in providers if p.pk in fitting]
        return Response({"resource_providers": [self.provider_document(p) for p in providers]})

    @staticmethod
    def resources(value):
        """``resources=VCPU:2,MEMORY_MB:1024``, checked as Placement checks it."""
        form = "Expected resources query string parameter in form: ?resources=VCPU:2,MEMORY_MB:1024."
        if not value.strip():
            raise placement.PlacementError(f"Badly formed resources parameter. {form} Got: empty string.")
        resources = {}
        for item in value.split(","):
            try:
                rc, amount = item.split(":")
            except ValueError:
                raise placement.PlacementError(f"Badly formed resources parameter. {form} Got: {item}.") from None
            try:
                amount = int(amount)
            except ValueError:
                raise placement.PlacementError(
                    f"Requested resource {rc} expected positive integer amount. Got: {amount}."
                ) from None
            if amount < 1:
                raise placement.PlacementError(f"Requested resource {rc} requires amount >= 1. Got: {amount}.")
            if rc not in RESOURCE_CLASSES:
                raise placement.PlacementError(
                    f"Invalid resource class in resources parameter: No such resource class {rc}."
                )
            resources[rc] = amount
        return resources


class Provider(PlacementView):
    """``GET /resource_providers/{uuid}``."""

    def get(self, request, cloud, uuid):
        # Placement raises this one outside the handler: its 404 has no Vary.
        return Response(self.provider_document(self.provider(uuid, vary=False)))


class ProviderInventories(PlacementView):
    """``GET /resource_providers/{uuid}/inventories``."""

    provider_not_found = ("No resource provider with uuid {uuid} found : "
                          "No resource provider with uuid {uuid} found")

    def get(self, request, cloud, uuid):
        provider = self.provider(uuid)
        inventories = {rc: _without_capacity(record) for rc, record in placement.provider_inventories(provider).items()}
        return Response({"resource_provider_generation": provider.generation,
                         "inventories": in_class_order(inventories)})


def _without_capacity(record):
    return {name: record[name] for name in placement.INVENTORY_FIELDS}


class ProviderInventory(ProviderInventories):
    """``GET /resource_providers/{uuid}/inventories/{resource_class}``."""

    def get(self, request, cloud, uuid, resource_class):
        provider = self.provider(uuid)
        try:
            record = _without_capacity(placement.get_inventory(provider, resource_class))
        except placement.NotFound:
            raise NotFound(f"No inventory of class {resource_class} for {uuid}") from None
        if provider.generation:  # Placement leaves out a generation of 0 here
            record["resource_provider_generation"] = provider.generation
        return Response(record)


class ProviderUsages(PlacementView):
    """``GET /resource_providers/{uuid}/usages``: every class with inventory, 0 when unused."""

    provider_not_found = ("No resource provider with uuid {uuid} found: "
                          "No resource provider with uuid {uuid} found")

    def get(self, request, cloud, uuid):
        provider = self.provider(uuid)
        return Response({"resource_provider_generation": provider.generation,
                         "usages": in_class_order(placement.usages(provider))})


class ProviderAllocations(PlacementView):
    """``GET /resource_providers/{uuid}/allocations``: by consumer; ``consumer_generation`` from 1.28."""

    provider_not_found = ("Resource provider '{uuid}' not found: "
                          "No resource provider with uuid {uuid} found")

    def get(self, request, cloud, uuid):
        provider = self.provider(uuid)
        allocations = {}
        for consumer, entry in placement.provider_allocations(provider).items():
            allocations[consumer] = {"resources": in_class_order(entry["resources"])}
            if self.wants(CONSUMER_GENERATION):
                allocations[consumer]["consumer_generation"] = entry["consumer_generation"]
        return Response({"allocations": allocations, "resource_provider_generation": provider.generation})


class ConsumerAllocations(PlacementView):
    """``GET /allocations/{consumer_uuid}``: by provider, with its generation; the consumer's
    project and user from 1.12, its generation from 1.28, its type from 1.38. A consumer with no
    allocation (or no uuid) is ``{"allocations": {}}``, never a 404."""

    def get(self, request, cloud, consumer_uuid):
        found = placement.get_allocations(consumer_uuid, self.cloud) if is_uuid(consumer_uuid) else {"allocations": {}}
        document = {"allocations": {
            rp: {"resources": in_class_order(entry["resources"]), "generation": entry["generation"]}
            for rp, entry in found["allocations"].items()
        }}
        if found["allocations"] and self.wants(CONSUMER_PROJECT_USER):
            document.update(project_id=found["project_id"], user_id=found["user_id"])
            if self.wants(CONSUMER_GENERATION):
                document["consumer_generation"] = found["consumer_generation"]
            if self.wants(CONSUMER_TYPE):
                document["consumer_type"] = found["consumer_type"]
        return Response(document)


class TotalUsages(PlacementView):
    """``GET /usages?project_id=&user_id=`` (1.9+): a project's usage over the cloud; from 1.38
    grouped by consumer type with each group's ``consumer_count`` (``consumer_type=`` filters:
    a type, ``all`` or ``unknown``)."""

    since = TOTAL_USAGES

    def get(self, request, cloud):
        check_query(request, usages_schema(self.microversion))
        project_id, user_id = request.GET["project_id"], request.GET.get("user_id")
        consumer_type, by_type = request.GET.get("consumer_type"), self.wants(CONSUMER_TYPE)
        if by_type:
            usages = placement.total_usages_by_consumer_type(self.cloud, project_id, user_id, consumer_type)
            usages = {group: in_class_order(amounts) for group, amounts in usages.items()}
        else:
            usages = in_class_order(placement.total_usages(self.cloud, project_id, user_id))
        return Response({"usages": usages})


class NoRoute(PlacementView):
    """Any other URL under a cloud's Placement: Placement's bare 404 (after the credentials and
    the microversion are checked, as there), whatever the method."""

    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]
    check_accept = False

    def get(self, request, *args, **kwargs):
        raise NotFound(vary=False)

    post = put = patch = delete = head = options = get


class NoCloud(NoRoute):
    """A URL under ``/placement/`` that names no cloud: a 404 whoever asks."""

    authentication_classes = []
    permission_classes = []
