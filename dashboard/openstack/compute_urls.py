"""Routes of the Compute API per cloud (``/compute/<cloud>/v2.1/``) and of the identity version
document the clients discover (``/identity/v3``). Nova's paths have no trailing slash."""
from django.urls import path, re_path

from . import compute

app_name = "compute"

V21 = "compute/<slug:cloud>/v2.1/"

urlpatterns = [
    path("compute/<slug:cloud>/", compute.versions, name="versions"),
    path("compute/<slug:cloud>", compute.versions),
    re_path(r"^compute/(?P<cloud>[-a-zA-Z0-9_]+)/v2\.1/?$", compute.version, name="version"),
    path(V21 + "servers", compute.servers, name="servers"),
    path(V21 + "servers/detail", compute.servers_detail, name="servers-detail"),
    path(V21 + "servers/<str:server_id>", compute.server, name="server"),
    path(V21 + "servers/<str:server_id>/action", compute.server_action, name="server-action"),
    path(V21 + "servers/<str:server_id>/os-instance-actions", compute.instance_actions, name="instance-actions"),
    path(V21 + "servers/<str:server_id>/os-instance-actions/<str:request_id>", compute.instance_action,
         name="instance-action"),
    path(V21 + "flavors", compute.flavors, name="flavors"),
    path(V21 + "flavors/detail", compute.flavors_detail, name="flavors-detail"),
    path(V21 + "flavors/<str:flavor_id>", compute.flavor, name="flavor"),
    path(V21 + "os-migrations", compute.migrations, name="migrations"),
    re_path(r"^compute/(?P<cloud>[-a-zA-Z0-9_]+)/v2\.1/(?P<path>[\s\S]+)$", compute.unknown, name="unknown"),
    path("identity/", compute.identity, name="identity"),
    re_path(r"^identity/v3/?$", compute.identity_v3, name="identity-v3"),
]
