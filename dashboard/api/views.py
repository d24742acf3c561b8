"""The REST API: start runs and campaigns and follow them, read and edit the simulated clouds."""
import functools

from django.db import transaction
from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action, api_view, permission_classes, schema
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from simulator import campaigns, placement
from simulator.audit import audit_cloud
from simulator.cloud import HostInUse, boot_server, delete_host, delete_server, ensure_host
from simulator.compute_api import lookup_flavor
from simulator.conformance import HOW_TO, last_result, nova_python
from simulator.models import (
    Campaign,
    Cloud,
    ConformanceCheck,
    Flavor,
    Host,
    InstanceAction,
    InstanceActionEvent,
    InstanceFault,
    Inventory,
    Migration,
    ResourceProvider,
    Run,
    Server,
)
from simulator.pipeline import AlreadyFinished, InvalidRun, abort, start_run
from simulator.presets import SCENARIOS
from simulator.report import build_report
from simulator.states import CampaignStatus
from simulator.tasks import cast, request_conformance, revoke

from .. import filters
from . import serializers

class APIRoot(APIView):
    """``/api/``: every endpoint of the API with its methods, the OpenAPI schema and its docs."""

    permission_classes = []
    schema = None  # not an endpoint of the API itself

    def get(self, request):
        endpoints = [
            {"path": path, "methods": sorted(method.upper() for method in operations)}
            for path, operations in _openapi_paths().items()
        ]
        return Response(
            {
                "schema": request.build_absolute_uri(reverse("api:schema")),
                "docs": request.build_absolute_uri(reverse("api:docs")),
                "endpoints": endpoints,
            }
        )


@functools.cache
def _openapi_paths():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator(patterns=None).get_schema(request=None, public=True)["paths"]


@api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@permission_classes([])
@schema(None)
def not_found(request, path=""):
    """Any URL under /api/ that names no endpoint: a JSON 404, never an HTML page."""
    raise NotFound(f"No endpoint at /api/{path}. The endpoints are listed at /api/.")


def conflict(detail, code=None):
    body = {"detail": detail}
    if code:
        body["code"] = code
    return Response(body, status=status.HTTP_409_CONFLICT)


def _started(run, request):
    location = reverse("api:run-detail", args=[run.pk])
    return Response(build_report(run), status=status.HTTP_202_ACCEPTED, headers={"Location": location})


def _start(scenario, overrides):
    """Start a run; bad input is a 400 naming the field, a conflicting request a 409."""
    try:
        return start_run(scenario, overrides, on_cast=cast), None
    except InvalidRun as error:
        if error.status == 409:
            return None, conflict(error.message)
        raise ValidationError({error.field or "non_field_errors": [error.message]}) from error


class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Resize runs: start one (202), poll its report, re-run or abort it."""

    queryset = Run.objects.select_related("cloud").defer("before", "after", "pipeline_state")
    lookup_value_regex = "[0-9]+"  # the views below look runs up by pk themselves: "abc" must not reach the query
    filterset_class = filters.RunFilter
    filter_backends = filters.BACKENDS
    ordering = ["-created", "-id"]
    throttle_scope = "runs"

    def get_throttles(self):
        return [ScopedRateThrottle()] if self.action in ("create", "rerun") else []

    def get_serializer_class(self):
        return serializers.RunCreateSerializer if self.action == "create" else serializers.RunSummarySerializer

    @extend_schema(request=serializers.RunCreateSerializer, responses={202: serializers.RunReportSerializer})
    def create(self, request):
        serializer = serializers.RunCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run, refused = _start(*serializer.overrides())
        return refused or _started(run, request)

    @extend_schema(responses=serializers.RunReportSerializer)
    def retrieve(self, request, pk=None):
        run = get_object_or_404(Run.objects.select_related("cloud"), pk=pk)
        return Response(build_report(run))

    @extend_schema(request=None, responses={202: serializers.RunReportSerializer})
    @action(detail=True, methods=["post"])
    def rerun(self, request, pk=None):
        """Start a run with exactly this run's scenario and parameters."""
        run = get_object_or_404(Run, pk=pk)
        again, refused = _start(run.scenario, run.params)
        return refused or _started(again, request)

    @extend_schema(
        request=None,
        responses={200: serializers.ConformanceCheckSerializer, 202: serializers.ConformanceCheckSerializer,
                   404: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["get", "post"], throttle_classes=[])
    def conformance(self, request, pk=None):
        """POST: replay this run's parameters in real Nova 34 on a worker (202); GET: the latest
        check, with the simulator's and Nova's outcomes and the fields that differ."""
        run = get_object_or_404(Run, pk=pk)
        location = reverse("api:run-conformance", args=[run.pk])
        if request.method == "GET":
            check = run.conformance_checks.first()
            if check is None:
                raise NotFound(f"Run {run.pk} has not been checked against Nova. POST to {location} to check it.")
            return Response(serializers.ConformanceCheckSerializer(check).data)
        if not run.is_finished:
            return conflict(f"Run {run.pk} is {run.status}: it can be checked once it has finished.")
        if nova_python() is None:
            return conflict(f"No Nova environment on this server. {HOW_TO}")
        check = request_conformance(run)
        return Response(serializers.ConformanceCheckSerializer(check).data, status=status.HTTP_202_ACCEPTED,
                        headers={"Location": location})

    @extend_schema(request=None, responses={200: serializers.RunReportSerializer, 409: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def abort(self, request, pk=None):
        """Stop an unfinished run: it ends ``crashed`` with the verdict "aborted", its pending cast is revoked."""
        get_object_or_404(Run, pk=pk)
        try:
            run, task_id = abort(pk, request.user.get_username())
        except AlreadyFinished as error:
            return conflict(str(error))
        if task_id:
            revoke(task_id)
        return Response(build_report(run))


# -- campaigns ---------------------------------------------------------------------------------
EXPORTS = ("export_csv", "export_junit")


def _refused(error):
    """A definition ``simulator.campaigns`` refuses: a 400 naming the field (``axes.exception``)."""
    return ValidationError({error.field: [error.message]})


def _definition(request):
    """The POSTed definition and name, checked for shape (the domain checks the rest)."""
    serializer = serializers.CampaignCreateSerializer(data=request.data)
    if not serializer.is_valid():
        raise ValidationError(serializers.field_errors(serializer.errors))
    return serializer.definition(), serializer.validated_data["name"]


def _download(text, content_type, filename):
    response = HttpResponse(text, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class CampaignViewSet(viewsets.GenericViewSet):
    """Campaigns: many runs from one definition, summarised by outcome. Start one (202) or preview
    it, follow its progress, read or export its results (JSON, CSV, JUnit XML), cancel it."""

    queryset = Campaign.objects.all()
    serializer_class = serializers.CampaignSummarySerializer
    lookup_value_regex = "[0-9]+"
    filter_backends = []
    throttle_scope = "campaigns"

    def get_throttles(self):
        return [ScopedRateThrottle()] if self.action == "create" else []

    def perform_content_negotiation(self, request, force=False):
        """An export is CSV or XML whatever the request accepts (its errors are JSON): never a 406."""
        return super().perform_content_negotiation(request, force=force or self.action in EXPORTS)

    def _links(self, campaign, request):
        absolute = request.build_absolute_uri
        return {
            "url": absolute(reverse("api:campaign-detail", args=[campaign.pk])),
            "results": absolute(reverse("api:campaign-results", args=[campaign.pk])),
            "export_csv": absolute(reverse("api:campaign-export-csv", args=[campaign.pk])),
            "export_junit": absolute(reverse("api:campaign-export-junit", args=[campaign.pk])),
        }

    def _fields(self, campaign, request, progress):
        return {
            "id": campaign.pk,
            "name": campaign.name,
            "status": campaign.status,
            "definition": campaign.definition,
            "max_in_flight": campaign.max_in_flight,
            "created": campaign.created,
            "finished": campaign.finished,
            "skipped": len(campaign.skipped),
            "progress": progress,
            **self._links(campaign, request),
        }

    def _document(self, campaign, request):
        """The campaign with its progress and the outcome totals of its ended runs."""
        rows = campaigns.results(campaign)
        outcomes = dict.fromkeys(campaigns.OUTCOMES, 0)
        for row in rows:
            if row["outcome"] is not None:
                outcomes[row["outcome"]] += 1
        document = {
            **self._fields(campaign, request, campaigns.progress(campaign)),
            "outcomes": outcomes,
            "failures": sum(1 for row in rows if campaigns.failing(row)),
        }
        return serializers.CampaignSerializer(document).data

    @extend_schema(responses=serializers.CampaignSummarySerializer(many=True))
    def list(self, request):
        """Campaigns, newest first, each with its progress."""
        page = self.paginate_queryset(self.get_queryset().with_counts())
        return self.get_paginated_response(
            [serializers.CampaignSummarySerializer(self._fields(c, request, campaigns.progress(c))).data for c in page]
        )

    @extend_schema(request=serializers.CampaignCreateSerializer, responses={202: serializers.CampaignSerializer})
    def create(self, request):
        """Start a campaign: its runs go out on the workers, at most max_in_flight unfinished at once."""
        definition, name = _definition(request)
        try:
            campaign = campaigns.create(definition, on_cast=cast, name=name)
        except campaigns.CampaignError as error:
            raise _refused(error) from error
        location = reverse("api:campaign-detail", args=[campaign.pk])
        return Response(self._document(campaign, request), status=status.HTTP_202_ACCEPTED,
                        headers={"Location": location})

    @extend_schema(responses=serializers.CampaignSerializer)
    def retrieve(self, request, pk=None):
        return Response(self._document(get_object_or_404(Campaign, pk=pk), request))

    @extend_schema(request=serializers.CampaignCreateSerializer, responses=serializers.CampaignPreviewSerializer)
    @action(detail=False, methods=["post"])
    def preview(self, request):
        """How many runs a definition makes and how many combinations it skips (and why); nothing starts."""
        definition, _ = _definition(request)
        try:
            shown = campaigns.preview(definition)
        except campaigns.CampaignError as error:
            raise _refused(error) from error
        shown["skipped_reasons"] = [{"reason": reason, "count": count} for reason, count in shown["skipped_reasons"]]
        return Response(shown)

    @extend_schema(responses=serializers.CampaignResultsSerializer)
    @action(detail=True, methods=["get"])
    def results(self, request, pk=None):
        """One row per run in plan order (axis values, status, outcome, verdict, audit), and the
        combinations skipped with the reason: the document ``resize_campaign --json`` writes."""
        return Response(campaigns.as_json(get_object_or_404(Campaign, pk=pk)))

    @extend_schema(operation_id="campaigns_export_csv", responses={(200, "text/csv"): OpenApiTypes.STR})
    def export_csv(self, request, pk=None):
        """One CSV row per run: run, one column per axis, status, outcome, verdict, audit, server_status, duration."""
        campaign = get_object_or_404(Campaign, pk=pk)
        return _download(campaigns.as_csv(campaign), "text/csv; charset=utf-8", f"campaign-{campaign.pk}.csv")

    @extend_schema(operation_id="campaigns_export_junit", responses={(200, "application/xml"): OpenApiTypes.STR})
    def export_junit(self, request, pk=None):
        """JUnit XML: a testcase per run (a ``<failure>`` where the audit found something or the expected
        outcome was not met) and per skipped combination (``<skipped>``)."""
        campaign = get_object_or_404(Campaign, pk=pk)
        document = '<?xml version="1.0" encoding="utf-8"?>\n' + campaigns.as_junit(campaign) + "\n"
        return _download(document, "application/xml; charset=utf-8", f"campaign-{campaign.pk}.xml")

    @extend_schema(request=None, responses={200: serializers.CampaignSerializer, 409: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Stop a running campaign: no further run starts, its unfinished runs are aborted."""
        campaign = get_object_or_404(Campaign, pk=pk)
        if not campaign.is_finished:
            campaign = campaigns.cancel(campaign, request.user.get_username())
            if campaign.status == CampaignStatus.CANCELLED:
                return Response(self._document(campaign, request))
        return conflict(f"Campaign {campaign.pk} is already {campaign.status}.")


class ScenarioViewSet(viewsets.ViewSet):
    """The presets, with their parameters and expected outcomes."""

    lookup_field = "name"
    lookup_value_regex = "[a-z0-9-]+"
    serializer_class = serializers.ScenarioSerializer

    @staticmethod
    def _document(scenario, check):
        return {
            "name": scenario.name,
            "title": scenario.title,
            "description": scenario.description,
            "reference": scenario.reference,
            "params": scenario.all_params(),
            "expected": [{"bugs": list(bugs), "outcome": outcome} for bugs, outcome in scenario.expected.items()],
            "conformance": last_result(check),
        }

    @extend_schema(responses=serializers.ScenarioSerializer(many=True))
    def list(self, request):
        checks = ConformanceCheck.objects.latest_per_preset()
        return Response([self._document(s, checks.get(s.name)) for s in SCENARIOS.values()])

    @extend_schema(responses=serializers.ScenarioSerializer)
    def retrieve(self, request, name=None):
        if name not in SCENARIOS:
            raise NotFound(f"Unknown scenario '{name}'.")
        return Response(self._document(SCENARIOS[name], ConformanceCheck.objects.latest_per_preset().get(name)))


class ImportedCloudConflict(APIException):
    """A write to a cloud imported from a real one: it mirrors that cloud, and is never changed."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "imported"


def refuse_imported(cloud):
    """Raise ImportedCloudConflict (409) when ``cloud`` is an imported cloud."""
    if cloud is not None and cloud.is_imported:
        raise ImportedCloudConflict(
            f"Cloud {cloud.name} is imported from a real cloud and is never changed here: "
            f"copy it (python manage.py copy_cloud {cloud.name}) and change the copy."
        )


class ImportedReadOnly:
    """For a ModelViewSet: creating, updating or deleting a record of an imported cloud is a 409."""

    def perform_create(self, serializer):
        refuse_imported(serializer.validated_data.get("cloud"))
        super().perform_create(serializer)

    def perform_update(self, serializer):
        refuse_imported(serializer.instance.cloud)
        refuse_imported(serializer.validated_data.get("cloud"))
        super().perform_update(serializer)

    def perform_destroy(self, instance):
        refuse_imported(instance.cloud)
        super().perform_destroy(instance)


class HostViewSet(ImportedReadOnly, viewsets.ModelViewSet):
    """Compute hosts: service up/down and the driver's injected failures."""

    queryset = Host.objects.select_related("cloud", "provider")
    serializer_class = serializers.HostSerializer
    filterset_class = filters.HostFilter
    filter_backends = filters.BACKENDS
    ordering = ["cloud_id", "name"]

    def perform_create(self, serializer):
        data = serializer.validated_data
        refuse_imported(data["cloud"])
        with transaction.atomic():
            host = ensure_host(data["cloud"], data["name"], data["driver"])
            for key in ("service_up", "supports_migrate_to_same_host", "failures"):
                if key in data:
                    setattr(host, key, data[key])
            host.save()
        serializer.instance = host

    def destroy(self, request, *args, **kwargs):
        host = self.get_object()
        refuse_imported(host.cloud)
        try:
            delete_host(host)
        except HostInUse as error:
            return conflict(str(error), "placement.resource_provider.inuse")
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProviderViewSet(viewsets.ReadOnlyModelViewSet):
    """Resource providers with inventories, usages and capacity, plus Placement-shaped views."""

    queryset = ResourceProvider.objects.select_related("cloud", "host").prefetch_related(
        Prefetch("inventories", queryset=Inventory.objects.order_by("resource_class"))
    )
    serializer_class = serializers.ProviderSerializer
    filterset_class = filters.ProviderFilter
    lookup_field = "uuid"
    filter_backends = filters.BACKENDS
    ordering = ["cloud_id", "name"]

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["usages"] = getattr(self, "_usages", {})
        return context

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        self._usages = placement.used_by_provider([p.pk for p in page or []])
        return page

    def get_object(self):
        provider = super().get_object()
        self._usages = placement.used_by_provider([provider.pk])
        return provider

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"])
    def usages(self, request, uuid=None):
        """``GET /resource_providers/{uuid}/usages``, as Placement answers it."""
        provider = self.get_object()
        return Response({"resource_provider_generation": provider.generation, "usages": placement.usages(provider)})


def _placement_errors(method):
    """A view method whose PlacementError is answered as Placement's error document (what is not
    found: a 404 like any other of the API)."""

    @functools.wraps(method)
    def answer(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except placement.NotFound as error:
            raise NotFound(error.detail) from error
        except placement.PlacementError as error:
            return Response(error.document(), status=error.status)

    return answer


def _provider(uuid, resource_class):
    """The provider of ``uuid``, once the resource class is known to exist."""
    placement.check_resource_class(resource_class)
    return get_object_or_404(ResourceProvider, uuid=uuid)


class InventoryView(APIView):
    """``/resource_providers/{uuid}/inventories``: Placement's inventory documents."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, uuid):
        provider = get_object_or_404(ResourceProvider, uuid=uuid)
        return Response(
            {
                "resource_provider_generation": provider.generation,
                "inventories": placement.provider_inventories(provider),
            }
        )


class InventoryClassView(APIView):
    """One resource class of a provider's inventory: read, replace (PUT) or delete."""

    serializer_class = serializers.InventorySerializer

    @extend_schema(operation_id="providers_inventory_retrieve", responses=OpenApiTypes.OBJECT)
    @_placement_errors
    def get(self, request, uuid, resource_class):
        provider = _provider(uuid, resource_class)
        inventory = placement.get_inventory(provider, resource_class)
        return Response({"resource_provider_generation": provider.generation, **inventory})

    @extend_schema(request=serializers.InventorySerializer, responses=OpenApiTypes.OBJECT)
    @_placement_errors
    def put(self, request, uuid, resource_class):
        serializer = serializers.InventorySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        record = dict(serializer.validated_data)
        generation = record.pop("resource_provider_generation", None)
        provider = _provider(uuid, resource_class)
        refuse_imported(provider.cloud)
        placement.set_inventory(provider, resource_class, record, generation)
        return self.get(request, uuid, resource_class)

    @_placement_errors
    def delete(self, request, uuid, resource_class):
        provider = _provider(uuid, resource_class)
        refuse_imported(provider.cloud)
        placement.delete_inventory(provider, resource_class)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AllocationView(APIView):
    """``GET /allocations/{consumer_uuid}``, as Placement answers it (``{}`` for an unknown consumer)."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, consumer_uuid):
        return Response(placement.get_allocations(consumer_uuid))


class FlavorViewSet(ImportedReadOnly, viewsets.ModelViewSet):
    queryset = Flavor.objects.select_related("cloud")
    serializer_class = serializers.FlavorSerializer
    filterset_class = filters.FlavorFilter
    filter_backends = filters.BACKENDS
    ordering = ["cloud_id", "flavorid"]


class ServerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                    viewsets.GenericViewSet):
    """Servers with their fault and instance actions; boot one onto a host, or delete it."""

    queryset = Server.objects.select_related("cloud", "host", "node", "flavor", "old_flavor", "new_flavor").prefetch_related(
        Prefetch("faults", queryset=InstanceFault.objects.order_by("created", "id")),
        Prefetch(
            "actions",
            queryset=InstanceAction.objects.order_by("start_time", "id").prefetch_related(
                Prefetch("events", queryset=InstanceActionEvent.objects.order_by("id"))
            ),
        ),
    )
    serializer_class = serializers.ServerSerializer
    filterset_class = filters.ServerFilter
    lookup_field = "uuid"
    filter_backends = filters.BACKENDS
    ordering = ["cloud_id", "name"]

    @extend_schema(request=serializers.ServerCreateSerializer, responses={201: serializers.ServerSerializer})
    def create(self, request):
        serializer = serializers.ServerCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        cloud = data["cloud"]
        refuse_imported(cloud)
        host = Host.objects.select_related("provider").filter(cloud=cloud, name=data["host"]).first()
        if host is None:
            raise ValidationError({"host": [f"Compute host {data['host']} could not be found."]})
        flavor = lookup_flavor(cloud, data["flavor"])
        if flavor is None or flavor.disabled:
            raise ValidationError({"flavor": [f"Flavor {data['flavor']} could not be found."]})
        try:
            with transaction.atomic():
                server = boot_server(cloud, data["name"], host, flavor, data["vm_state"])
        except placement.PlacementError as error:
            return conflict(error.detail, error.code)
        return Response(self.get_serializer(self.get_queryset().get(pk=server.pk)).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        server = self.get_object()
        refuse_imported(server.cloud)
        if Run.objects.unfinished().filter(server=server).exists():
            return conflict(f"Cannot delete server {server.name} while a run is resizing it.")
        with transaction.atomic():
            delete_server(server)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MigrationViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Migration.objects.select_related(
        "cloud", "server", "source_compute", "source_node", "dest_compute", "dest_node", "old_flavor", "new_flavor"
    )
    serializer_class = serializers.MigrationSerializer
    filterset_class = filters.MigrationFilter
    lookup_field = "uuid"
    filter_backends = filters.BACKENDS
    ordering = ["-created", "-id"]


class AuditView(APIView):
    """The audit over a whole cloud: orphaned, missing and mismatched allocations (exit_code 0 or 3)."""

    @extend_schema(
        parameters=[OpenApiParameter("cloud", str, required=True, description="Name of the cloud")],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        name = request.query_params.get("cloud")
        if not name:
            raise ValidationError({"cloud": ["This query parameter is required."]})
        cloud = Cloud.objects.filter(name=name).first()
        if cloud is None:
            raise NotFound(f"Cloud {name} does not exist.")
        return Response({"cloud": cloud.name, **audit_cloud(cloud)})

