"""URL routes of the site: the dashboard's pages, the REST API, the OpenStack wire APIs (Placement,
Compute, an identity version document), Prometheus' metrics, login, the admin and the health check."""
from django.contrib import admin
from django.urls import include, path

from dashboard.health import health

urlpatterns = [
    path("", include("dashboard.urls")),
    path("api/", include("dashboard.api.urls")),
    path("metrics", include("dashboard.metrics")),  # Prometheus' scrape target
    path("placement/", include("dashboard.openstack.placement_urls")),
    path("", include("dashboard.openstack.compute_urls")),  # /compute/<cloud>/v2.1/, /identity/v3
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
]
