"""Routes of each cloud's Placement API, under /placement/<cloud>/ (Placement's own paths)."""
from django.urls import path, re_path

from . import placement as views

app_name = "placement"

PROVIDER = "<slug:cloud>/resource_providers/<str:uuid>"

urlpatterns = [
    # Placement answers its root with and without the trailing slash.
    path("<slug:cloud>", views.Root.as_view(), name="root-bare"),
    path("<slug:cloud>/", views.Root.as_view(), name="root"),
    path("<slug:cloud>/resource_providers", views.ProviderList.as_view(), name="providers"),
    path(PROVIDER, views.Provider.as_view(), name="provider"),
    path(f"{PROVIDER}/inventories", views.ProviderInventories.as_view(), name="inventories"),
    path(f"{PROVIDER}/inventories/<str:resource_class>", views.ProviderInventory.as_view(), name="inventory"),
    path(f"{PROVIDER}/usages", views.ProviderUsages.as_view(), name="provider-usages"),
    path(f"{PROVIDER}/allocations", views.ProviderAllocations.as_view(), name="provider-allocations"),
    path("<slug:cloud>/allocations/<str:consumer_uuid>", views.ConsumerAllocations.as_view(), name="allocations"),
    path("<slug:cloud>/usages", views.TotalUsages.as_view(), name="usages"),
    re_path(r"^(?P<cloud>[-a-zA-Z0-9_]+)/(?P<rest>[\s\S]*)$", views.NoRoute.as_view(), name="no-route"),
    re_path(r"^(?P<rest>[\s\S]*)$", views.NoCloud.as_view(), name="no-cloud"),
]
