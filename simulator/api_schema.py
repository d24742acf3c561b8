"""The body of the server action a run sends, checked as Nova's API checks it before anything else.

``POST /servers/{id}/action``: Nova validates the body against the action's JSON schema
(``nova/api/openstack/compute/schemas/servers.py`` ``resize``, ``.../migrate_server.py``
``migrate``) before it looks the server up. A resize takes ``flavorRef`` (required) and
``OS-DCF:diskConfig``, and nothing else, at every microversion: it has no host. A cold migration
takes an optional ``host`` (from microversion 2.56), and nothing else: it keeps the flavor. A
body the schema refuses is a 400 in Nova's words, e.g. "Invalid input for field/attribute resize.
Value: {'flavorRef': '2', 'host': 'host3'}. Additional properties are not allowed ('host' was
unexpected)", the value being the body as Nova received it (Python's ``str`` of it).
"""
import re

from .params import ParamError

# The run parameter each key of a body comes from, to name the field a refusal is about.
FIELDS = {"flavorRef": "new_flavor", "host": "dest_host"}
KEYS = {
    "resize": ("flavorRef", "OS-DCF:diskConfig"),
    "migrate": ("host",),
}
REQUIRED = {"resize": ("flavorRef",), "migrate": ()}
# parameter_types.fqdn, which the migrate action's host is.
HOST_PATTERN = "^[a-zA-Z0-9-._]*$"


def action_body(params, flavor_ref):
    """(action, body) of the request a run sends, ``{action: body}``: the keys its parameters
    give, in the order Nova's replay sends them. ``flavor_ref`` is ``new_flavor`` as the API takes
    it (the flavorid). A cold migration with nothing to say sends ``{"migrate": null}``."""
    body = {}
    if params["action"] == "migrate":
        if params.get("dest_host"):
            body["host"] = params["dest_host"]
        if params.get("new_flavor"):
            body["flavorRef"] = flavor_ref
        return "migrate", body or None
    if params.get("new_flavor"):
        body["flavorRef"] = flavor_ref
    if params.get("dest_host"):
        body["host"] = params["dest_host"]
    return "resize", body


def _invalid(path, value, message):
    """nova.api.validation.validators._SchemaValidator's message."""
    return f"Invalid input for field/attribute {path}. Value: {value}. {message}"


def refusal(action, body):
    """Nova's schema check of ``{action: body}``, in the order jsonschema reports (the properties'
    own schemas, then the required ones, then the unexpected ones): a ParamError naming the run
    parameter at fault, with Nova's 400 message, or None when the body is valid."""
    if body is None:  # {"migrate": null}
        return None
    host = body.get("host")
    if action == "migrate" and host is not None and not re.search(HOST_PATTERN, host):
        return ParamError("dest_host", _invalid("host", host, f"{host!r} does not match {HOST_PATTERN!r}"))
    for key in REQUIRED[action]:
        if key not in body:
            return ParamError(FIELDS[key], _invalid(action, body, f"{key!r} is a required property"))
    extra = [key for key in body if key not in KEYS[action]]
    if extra:
        verb = "was" if len(extra) == 1 else "were"
        listed = ", ".join(repr(key) for key in extra)
        return ParamError(
            FIELDS[extra[0]], _invalid(action, body, f"Additional properties are not allowed ({listed} {verb} unexpected)")
        )
    return None
