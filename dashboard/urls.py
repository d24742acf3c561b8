"""URL routes of the dashboard's pages (config/urls.py mounts them at the root)."""
from django.urls import path

from . import campaign_views, cloud_views, lists, views

urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("runs/", lists.run_list, name="run-list"),
    path("runs/new/", views.run_new, name="run-new"),
    path("runs/compare/", views.run_compare, name="run-compare"),
    path("runs/compare/live/", views.run_compare_live, name="run-compare-live"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("runs/<int:pk>/live/", views.run_live, name="run-live"),
    path("runs/<int:pk>/rerun/", views.run_rerun, name="run-rerun"),
    path("runs/<int:pk>/abort/", views.run_abort, name="run-abort"),
    path("runs/<int:pk>/conform/", views.run_conform, name="run-conform"),
    path("runs/<int:pk>/conformance/", views.run_conformance, name="run-conformance"),
    path("runs/<int:pk>/toggle-bug/<str:bug>/", views.run_toggle_bug, name="run-toggle-bug"),
    path("campaigns/", campaign_views.campaign_list, name="campaign-list"),
    path("campaigns/new/", campaign_views.campaign_new, name="campaign-new"),
    path("campaigns/compare/", campaign_views.campaign_compare, name="campaign-compare"),
    path("campaigns/<int:pk>/", campaign_views.campaign_detail, name="campaign-detail"),
    path("campaigns/<int:pk>/live/", campaign_views.campaign_live, name="campaign-live"),
    path("campaigns/<int:pk>/cancel/", campaign_views.campaign_cancel, name="campaign-cancel"),
    path("campaigns/<int:pk>/runs/", campaign_views.campaign_runs, name="campaign-runs"),
    path("clouds/", cloud_views.cloud_list, name="cloud-list"),
    path("clouds/import/", cloud_views.cloud_import, name="cloud-import"),
    path("clouds/<slug:name>/", cloud_views.cloud_detail, name="cloud-detail"),
    path("clouds/<slug:name>/copy/", cloud_views.cloud_copy, name="cloud-copy"),
    path("providers/", lists.provider_list, name="provider-list"),
    path("providers/<uuid:uuid>/", lists.provider_detail, name="provider-detail"),
    path("hosts/", lists.host_list, name="host-list"),
    path("servers/", lists.server_list, name="server-list"),
    path("migrations/", lists.migration_list, name="migration-list"),
]
