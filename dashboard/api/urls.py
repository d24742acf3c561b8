"""Routes of the REST API, under /api/."""
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from . import views

app_name = "api"

router = DefaultRouter()
router.include_root_view = False  # the root lists every endpoint, not only the viewsets
router.register("runs", views.RunViewSet, basename="run")
router.register("campaigns", views.CampaignViewSet, basename="campaign")
router.register("scenarios", views.ScenarioViewSet, basename="scenario")
router.register("hosts", views.HostViewSet, basename="host")
router.register("providers", views.ProviderViewSet, basename="provider")
router.register("flavors", views.FlavorViewSet, basename="flavor")
router.register("servers", views.ServerViewSet, basename="server")
router.register("migrations", views.MigrationViewSet, basename="migration")

urlpatterns = [
    path("", views.APIRoot.as_view(), name="api-root"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("providers/<uuid:uuid>/inventories/", views.InventoryView.as_view(), name="provider-inventories"),
    path(
        "providers/<uuid:uuid>/inventories/<str:resource_class>/",
        views.InventoryClassView.as_view(),
        name="provider-inventory",
    ),
    path("allocations/<uuid:consumer_uuid>/", views.AllocationView.as_view(), name="allocations"),
    path("audit/", views.AuditView.as_view(), name="audit"),
    # A file a CI script can fetch as it is: curl -o results.xml …/export.xml
    path("campaigns/<int:pk>/export.csv", views.CampaignViewSet.as_view({"get": "export_csv"}),
         name="campaign-export-csv"),
    path("campaigns/<int:pk>/export.xml", views.CampaignViewSet.as_view({"get": "export_junit"}),
         name="campaign-export-junit"),
    *router.urls,
    re_path(r"^(?P<path>[\s\S]*)$", views.not_found, name="not-found"),  # any character, newlines too
]
