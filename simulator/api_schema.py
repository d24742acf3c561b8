"""The body of the server action a run sends, checked as Nova's API checks it before anything else.

``POST /servers/{id}/action``: Nova validates the body against the action's JSON schema
(``nova/api/openstack/compute/schemas/servers.py`` ``resize``, ``.../migrate_server.py``
``migrate``) before it looks the server up. A resize takes ``flavorRef`` (required, a string or
an integer) and ``OS-DCF:diskConfig`` (``AUTO`` or ``MANUAL``), and nothing else, at every
microversion: it has no host. A cold migration takes an object or null with an optional ``host``
(a host name, or null), and nothing else: it keeps the flavor; its schema applies from
microversion 2.56 (before, Nova reads no host and checks nothing of the body). ``confirmResize``
and ``revertResize`` take any value. A body the schema refuses is a 400 in Nova's words, e.g.
"Invalid input for field/attribute resize. Value: {'flavorRef': '2', 'host': 'host3'}. Additional
properties are not allowed ('host' was unexpected)", the value being the body as Nova received it
(Python's ``str`` of it), checked in the order jsonschema reports: the body's type, each
property's own schema (type, allowed values, pattern, length), then the required properties,
then the unexpected ones.
"""
import re

from .params import ACTIONS, ParamError

# The run parameter each key of a body comes from, to name the field a refusal is about.
FIELDS = {"flavorRef": "new_flavor", "host": "dest_host"}
# parameter_types.fqdn, which the migrate action's host is.
HOST_PATTERN = "^[a-zA-Z0-9-._]*$"
# What each property takes: its JSON types, then (as they apply to a string) its allowed values,
# pattern and length.
FLAVOR_REF = {"types": ("string", "integer"), "min_length": 1}
DISK_CONFIG = {"types": ("string",), "enum": ["AUTO", "MANUAL"]}
HOST = {"types": ("string", "null"), "pattern": HOST_PATTERN, "min_length": 1, "max_length": 255}
SCHEMAS = {
    "resize": {"types": ("object",), "properties": {"flavorRef": FLAVOR_REF, "OS-DCF:diskConfig": DISK_CONFIG},
               "required": ("flavorRef",)},
    "migrate": {"types": ("object", "null"), "properties": {"host": HOST}, "required": ()},
}
# Microversion from which an action's body is checked (and read) at all.
CHECKED_FROM = {"migrate": (2, 56)}
_JSON_TYPES = {"object": dict, "null": type(None), "string": str, "integer": int}


def action_body(params, flavor_ref):
    """(action, body) of the request a run sends, ``{action: body}``: the keys its parameters
    give, in the order Nova's replay sends them. ``flavor_ref`` is ``new_flavor`` as the API takes
    it (the flavorid). A cold migration with nothing to say sends ``{"migrate": null}``, a confirm
    ``{"confirmResize": null}``."""
    body = {}
    if params["action"] not in ("resize", "migrate"):
        return ACTIONS[params["action"]][1], None
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


def checked(action, version):
    """Whether Nova checks (and reads) the body of ``action`` at ``version`` ((major, minor))."""
    return action in SCHEMAS and version >= CHECKED_FROM.get(action, (2, 1))


def _invalid(path, value, message):
    """nova.api.validation.validators._SchemaValidator's message."""
    return f"Invalid input for field/attribute {path}. Value: {value}. {message}"


def _is(value, json_type):
    return isinstance(value, _JSON_TYPES[json_type]) and not isinstance(value, bool)


def _problem(value, rule):
    """What jsonschema says of ``value`` against one property's rule, or None."""
    if not any(_is(value, json_type) for json_type in rule["types"]):
        return f"{value!r} is not of type {', '.join(repr(t) for t in rule['types'])}"
    if not isinstance(value, str):
        return None
    if "enum" in rule and value not in rule["enum"]:
        return f"{value!r} is not one of {rule['enum']!r}"
    if "pattern" in rule and not re.search(rule["pattern"], value):
        return f"{value!r} does not match {rule['pattern']!r}"
    if len(value) < rule.get("min_length", 0):
        return f"{value!r} should be non-empty"
    if len(value) > rule.get("max_length", len(value)):
        return f"{value!r} is too long"
    return None


def refusal(action, body):
    """Nova's schema check of ``{action: body}``: a ParamError naming the run parameter at fault,
    with Nova's 400 message, or None when the body is valid (or the action takes any body)."""
    schema = SCHEMAS.get(action)
    if schema is None:  # confirmResize, revertResize: {}
        return None
    if not any(_is(body, json_type) for json_type in schema["types"]):
        return ParamError("action", _invalid(action, body, _problem(body, schema)))
    if body is None:  # {"migrate": null}
        return None
    for key, rule in schema["properties"].items():
        if key in body and (problem := _problem(body[key], rule)):
            return ParamError(FIELDS.get(key, key), _invalid(key, body[key], problem))
    for key in schema["required"]:
        if key not in body:
            return ParamError(FIELDS[key], _invalid(action, body, f"{key!r} is a required property"))
    extra = [key for key in body if key not in schema["properties"]]
    if extra:
        verb = "was" if len(extra) == 1 else "were"
        listed = ", ".join(repr(key) for key in extra)
        return ParamError(
            FIELDS.get(extra[0], extra[0]),
            _invalid(action, body, f"Additional properties are not allowed ({listed} {verb} unexpected)"),
        )
    return None
