"""The run's parameters are declared once (``simulator.params.PARAMS``, and
``simulator.presets.SCENARIO`` for the scenario): the run form, the REST API's schema and
``resize_run``'s options expose exactly those names with the declared defaults; ``custom`` starts
from them; the presets use only declared names; the README shows the declared table."""
import json
from pathlib import Path

import pytest
from django import forms
from django.core.management.base import BaseCommand
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator

from dashboard.forms import RunForm
from simulator.management.commands.resize_run import Command as ResizeRun
from simulator import compute_api
from simulator.params import DEFAULTS, NAMES, PARAMS, markdown_table
from simulator.presets import CUSTOM, SCENARIO, SCENARIOS, SMALL, TINY, ZERO
from simulator.validation import resolve
from tests.factories import flavor_usage

ROOT = Path(__file__).resolve().parent.parent
DECLARED = {*PARAMS, "scenario"}
# resize_run's options that are not run parameters.
COMMAND_OPTIONS = {"list", "json", "no_wait", "in_process", "timeout", "conform"}


def as_form_value(param):
    """How the form shows a declared default: a list of names comma separated, no value as ""."""
    if param.kind == NAMES:
        return ", ".join(param.default or [])
    return "" if param.default is None else param.default


# -- the run form ----------------------------------------------------------------------------
def test_the_form_has_a_field_per_declared_parameter_in_the_declared_order(db):
    fields = RunForm().fields
    assert set(fields) == DECLARED | {"loaded"}
    assert isinstance(fields["loaded"].widget, forms.HiddenInput)  # which preset filled the form
    assert [name for name in fields if name in PARAMS] == list(PARAMS)
    assert [value for value, _ in fields["scenario"].choices] == [*SCENARIOS, CUSTOM]


def test_the_forms_values_for_custom_are_the_declared_defaults(client, db):
    initial = RunForm.initial_for({})
    assert {name: initial[name] for name in PARAMS} == {name: as_form_value(p) for name, p in PARAMS.items()}
    assert initial["hosts"] == "host1, host2" and initial["fail_at"] == "" and initial["bugs"] == []

    page = client.get(reverse("run-new") + f"?scenario={CUSTOM}")
    assert page.context["form"].initial == {**initial, "scenario": CUSTOM, "loaded": CUSTOM}
    assert client.get(reverse("run-new")).context["form"].initial["scenario"] == SCENARIO.default


# -- the REST API's schema -------------------------------------------------------------------
@pytest.fixture(scope="module")
def run_create():
    """The request body of POST /api/runs/ in the OpenAPI document."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    body = schema["paths"]["/api/runs/"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/RunCreateRequest"}
    return schema["components"]["schemas"]["RunCreateRequest"]


def test_the_schema_takes_every_declared_parameter_and_requires_none(run_create):
    properties = run_create["properties"]
    assert set(properties) == DECLARED
    assert [name for name in properties if name in PARAMS] == list(PARAMS)
    assert "required" not in run_create  # an omitted parameter keeps the scenario's value


def test_the_schema_says_what_custom_starts_from(run_create):
    properties = run_create["properties"]
    missing = {
        name: properties[name]["description"]
        for name, param in PARAMS.items()
        if f"(custom: {json.dumps(param.default)})" not in properties[name]["description"]
    }
    assert missing == {}
    assert '(custom: ["host1", "host2"])' in properties["hosts"]["description"]
    assert properties["scenario"]["default"] == SCENARIO.default


# -- resize_run ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def options():
    """resize_run's own options (not Django's common ones), by destination."""
    common = {action.dest for action in BaseCommand().create_parser("manage.py", "resize_run")._actions}
    parser = ResizeRun().create_parser("manage.py", "resize_run")
    return {action.dest: action for action in parser._actions if action.dest not in common}


def test_resize_run_has_an_option_per_declared_parameter(options):
    assert set(options) - COMMAND_OPTIONS == DECLARED
    for name, param in PARAMS.items():
        assert options[name].option_strings == [param.option], name
        assert options[name].default is None, name  # unset: the scenario's value
    assert {"--new-flavor", "--allow-resize-to-same-host", "--step-delay"} <= {
        option for action in options.values() for option in action.option_strings
    }
    assert options["scenario"].default == SCENARIO.default


def test_resize_runs_help_says_what_custom_starts_from(options):
    missing = {
        name: options[name].help for name, param in PARAMS.items() if f"custom: {param.default_text()}" not in options[name].help
    }
    assert missing == {}
    assert "custom: host1,host2." in options["hosts"].help and "custom: off." in options["allow_resize_to_same_host"].help


# -- the declaration itself --------------------------------------------------------------------
def test_custom_starts_from_the_declared_defaults(db):
    assert resolve(CUSTOM, {}) == DEFAULTS


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_preset_sets_declared_parameters_to_valid_values(db, name):
    preset = SCENARIOS[name]
    assert set(preset.params) <= set(PARAMS)
    assert resolve(name, {}) == preset.all_params()  # already valid, and as validation writes them
    assert all(set(bugs) <= set(PARAMS["bugs"].values) for bugs in preset.expected)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_no_preset_makes_a_request_novas_api_refuses(db, name):
    params = resolve(name, {})  # the body passes Nova's schema: no resize with a host, no migrate with a flavor
    assert compute_api.refusal(params) is None  # and the compute API takes it: state, flavor, target host
    assert not (params["action"] == "resize" and params["dest_host"])


def test_a_destination_is_declared_for_cold_migration_only():
    assert "cold migration" in PARAMS["dest_host"].help and "A resize takes no host" in PARAMS["dest_host"].help


def test_the_presets_usages_are_the_default_flavors_resources():
    assert TINY == flavor_usage("m1.tiny")
    assert SMALL == flavor_usage("m1.small")
    assert ZERO == dict.fromkeys(TINY, 0)


def test_the_readme_shows_the_declared_parameter_table():
    assert markdown_table() in (ROOT / "README.md").read_text()
