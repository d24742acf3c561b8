"""The run form: one field per declared run parameter (``simulator/params.py``), plus the scenario;
and the campaign form: a base and an axis per declared parameter.

Fields, their help, what an empty value means and the messages for bad values come from the
declaration; this module only chooses how each kind is typed in (a select, a datalist, a
comma list, checkboxes). The simulator validates what is submitted.
"""
import json

from django import forms
from django.db.models import Q
from django.urls import reverse_lazy

from simulator import campaigns, imports
from simulator.models import Cloud
from simulator.params import (
    CHOICE,
    CHOICES,
    DEFAULTS,
    FLAG,
    FLAVOR_NAMES,
    GROUPS,
    INTEGER,
    MAX_NAME,
    NAMES,
    NUMBER,
    PARAMS,
    TEXT,
)
from simulator.presets import SCENARIO

from . import campaign_pages

# Parameters typed with the help of a list of suggestions (<datalist id=...>).
DATALISTS = {"flavor": "flavors", "new_flavor": "flavors"}


def _choices(param):
    return [(value, f"{value}: {label}" if param.name == "bugs" else label) for value, label in param.choices]


def form_field(param):
    """The form field of one declared parameter."""
    help_text = param.help + (f" Empty: {param.empty}." if param.nullable and param.empty else "")
    # A choice without an empty meaning must be made; a text is required when the declaration says so.
    required = param.required or (param.kind == CHOICE and not param.nullable)
    common = {"required": required, "help_text": help_text}
    unknown = {"invalid_choice": param.unknown.format(value="%(value)s", known=", ".join(param.values))}
    if param.kind == TEXT:
        attrs = {"list": DATALISTS[param.name]} if param.name in DATALISTS else {}
        return forms.CharField(max_length=MAX_NAME, widget=forms.TextInput(attrs=attrs), **common)
    if param.kind == CHOICE:
        choices = _choices(param)
        if param.nullable:
            choices = [("", param.empty)] + choices
        widget = forms.RadioSelect if len(choices) <= 3 else forms.Select
        return forms.ChoiceField(choices=choices, widget=widget, error_messages=unknown, **common)
    if param.kind == NAMES:
        return forms.CharField(help_text=f"{help_text} Comma separated.", required=False)
    if param.kind == CHOICES:
        return forms.MultipleChoiceField(
            choices=_choices(param), widget=forms.CheckboxSelectMultiple, error_messages=unknown, **common
        )
    if param.kind == FLAG:
        return forms.BooleanField(required=False, help_text=param.help)
    field = forms.IntegerField if param.kind == INTEGER else forms.FloatField
    assert param.kind in (INTEGER, NUMBER), param.kind
    return field(min_value=param.minimum, max_value=param.maximum, **{**common, "required": True})


class RunForm(forms.Form):
    scenario = forms.ChoiceField(
        choices=SCENARIO.choices,
        help_text="Choosing a preset loads its parameters.",
        # With JavaScript, the form is reloaded with the preset's values as soon as it is chosen.
        widget=forms.Select(
            attrs={
                "hx-get": reverse_lazy("run-new"),
                "hx-trigger": "change",
                "hx-target": "#run-new",
                "hx-select": "#run-new",
                "hx-swap": "outerHTML",
                "hx-push-url": "true",
            }
        ),
    )
    # The scenario whose parameters the form was filled with: a different scenario chosen
    # without reloading them must not start a run that carries its name.
    loaded = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, param in PARAMS.items():
            self.fields[name] = form_field(param)
        # A run's cloud is a fresh one, one of the shared clouds, an imported cloud (the run is on a
        # fresh copy of it) or a copy of one (any cloud by name over REST).
        shared = [
            (cloud.name, f"{cloud.name} (imported: the run is on a fresh copy)" if cloud.is_imported else cloud.name)
            for cloud in Cloud.objects.filter(Q(shared=True) | Q(imported__isnull=False) | Q(copy_of__isnull=False))
            .only("name", "imported").order_by("-shared", "name")
        ]
        self.fields["cloud"] = forms.ChoiceField(
            required=False,
            choices=[("", PARAMS["cloud"].empty)] + shared,
            help_text=PARAMS["cloud"].help,
        )
        self.flavor_names = FLAVOR_NAMES

    def groups(self):
        """[(legend, bound fields)] in the declared groups and order."""
        return [(group, [self[name] for name, p in PARAMS.items() if p.group == group]) for group in GROUPS]

    @staticmethod
    def initial_for(params):
        """Form values for a run's (or a preset's) parameters."""
        initial = {**DEFAULTS, **params}
        for name, param in PARAMS.items():
            if param.kind == NAMES:
                initial[name] = ", ".join(initial.get(name) or [])
            elif param.nullable and param.kind in (TEXT, CHOICE):
                initial[name] = initial.get(name) or ""
        return initial

    def overrides(self):
        """The scenario and the parameters to start the run with."""
        data = dict(self.cleaned_data)
        data.pop("loaded")
        scenario = data.pop("scenario")
        for name, param in PARAMS.items():
            if param.kind == NAMES:
                data[name] = [item.strip() for item in data[name].split(",") if item.strip()]
            elif param.nullable and param.kind in (TEXT, CHOICE):
                data[name] = data[name] or None
            elif param.kind == NUMBER and data[name] == int(data[name]):
                data[name] = int(data[name])
        if data["cloud"]:  # its hosts and driver are the cloud's
            data.pop("hosts")
            data.pop("driver")
        return scenario, data


# -- campaigns ---------------------------------------------------------------------------------
AXIS_FIXED, AXIS_ALL, AXIS_LIST = "", "all", "list"


class CampaignForm(forms.Form):
    """A campaign: a base (a preset or custom, and overrides as JSON), an axis per declared
    parameter (not varied, all its valid values, or the values typed, comma separated), an
    optional sample, and the runs in flight at once. The simulator checks the definition
    (``simulator.campaigns``); ``add_campaign_error`` puts its message next to the field at fault."""

    name = forms.CharField(max_length=200, required=False, help_text="Optional: what it is for.")
    scenario = forms.ChoiceField(
        choices=SCENARIO.choices, initial=SCENARIO.default, label="Base scenario",
        help_text="The preset every run starts from, or custom (the declared defaults, no failure).",
    )
    params = forms.CharField(
        required=False, label="Base parameters",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60, "class": "mono",
                                     "placeholder": '{"fail_at": "finish_migration", "fail_host": "host2"}'}),
        help_text="Optional: a JSON object of the base's parameters to override, the same for every run.",
    )
    sample = forms.IntegerField(
        required=False, help_text="Optional: this many combinations drawn at random instead of all of them.",
    )
    seed = forms.IntegerField(required=False, initial=0, help_text="The sample's seed: the same seed, the same runs.")
    max_in_flight = forms.IntegerField(
        initial=campaigns.DEFAULT_IN_FLIGHT, label="Max in flight",
        help_text="Runs unfinished at once, at most (1 to 200): the next ones start as these end.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, param in PARAMS.items():
            modes = [(AXIS_FIXED, "not varied"), (AXIS_LIST, "these values")]
            if campaign_pages.has_all(name):
                modes.insert(1, (AXIS_ALL, "all valid values"))
            self.fields[f"axis_{name}"] = forms.ChoiceField(
                choices=modes, required=False, label=name, help_text=param.help,
                widget=forms.Select(attrs={"aria-label": f"{name}: varied?"}),
            )
            self.fields[f"values_{name}"] = forms.CharField(
                required=False, label=f"{name} values",
                widget=forms.TextInput(attrs={"placeholder": campaign_pages.example(param), "size": 28,
                                              "aria-label": f"{name}: values, comma separated"}),
            )

    def axis_groups(self):
        """[(legend, [(name, mode field, values field, allowed)])] in the declared groups and order."""
        return [
            (group, [(name, self[f"axis_{name}"], self[f"values_{name}"], p.allowed())
                     for name, p in PARAMS.items() if p.group == group])
            for group in GROUPS
        ]

    @classmethod
    def initial_for(cls, campaign):
        """The form's values for a campaign's definition (its axes as the lists they expanded to)."""
        definition = campaign.definition
        initial = {
            "name": campaign.name,
            "scenario": definition.get("scenario", SCENARIO.default),
            "params": json.dumps(definition.get("params") or {}) if definition.get("params") else "",
            "max_in_flight": campaign.max_in_flight,
            "sample": definition.get("sample"),
            "seed": definition.get("seed", 0),
        }
        for name, values in (definition.get("axes") or {}).items():
            if name in PARAMS and isinstance(values, list):
                initial[f"axis_{name}"] = AXIS_LIST
                initial[f"values_{name}"] = ", ".join(campaigns.format_value(PARAMS[name], v) for v in values)
        return initial

    def clean_params(self):
        text = self.cleaned_data["params"].strip()
        if not text:
            return {}
        try:
            params = json.loads(text)
        except ValueError as error:
            raise forms.ValidationError(f"Not JSON: {error}.") from error
        if not isinstance(params, dict):
            raise forms.ValidationError('A JSON object of parameters: {"fail_at": "finish_migration"}.')
        return params

    def clean(self):
        data = super().clean()
        axes = {}
        for name, param in PARAMS.items():
            mode, text = data.get(f"axis_{name}"), (data.get(f"values_{name}") or "").strip()
            if mode == AXIS_ALL:
                axes[name] = campaigns.ALL
            elif mode == AXIS_LIST or (mode == AXIS_FIXED and text):  # values typed vary it
                try:
                    axes[name] = campaigns.parse_values(param, text)
                except ValueError as error:
                    self.add_error(f"values_{name}", str(error))
        data["axes"] = axes
        return data

    def definition(self):
        """The campaign's definition, as ``simulator.campaigns`` takes it."""
        data = self.cleaned_data
        definition = {"scenario": data["scenario"], "params": data["params"], "axes": data["axes"],
                      "max_in_flight": data["max_in_flight"]}
        if data.get("sample") is not None:
            definition.update(sample=data["sample"], seed=data.get("seed") or 0)
        return definition

    def add_campaign_error(self, error):
        """A ``CampaignError`` next to its field: ``params.X`` on the base parameters, ``axes.X`` on
        X's axis, ``sample``/``max_in_flight``/``scenario`` on theirs, anything else above the form."""
        where, _, detail = error.field.partition(".")
        target = {
            "params": "params",
            "axes": f"values_{detail}" if detail in PARAMS else None,
        }.get(where, where if where in self.fields else None)
        named = where != "params" or not detail or detail in error.message
        self.add_error(target, error.message if named else f"{detail}: {error.message}")


class ImportForm(forms.Form):
    """Import a real cloud: Placement's endpoint and token, and Nova's servers, migrations and
    flavors as the openstack command prints them (or Nova's compute endpoint)."""

    name = forms.SlugField(max_length=100, help_text="The imported cloud's name.")
    placement_url = forms.CharField(
        label="Placement URL", max_length=500, help_text="Placement's endpoint, e.g. http://controller:8778. Only read (GET)."
    )
    token = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False),
        help_text="A Keystone token (openstack token issue -f value -c id); sent to Placement and Nova, never stored.",
    )
    servers_json = forms.FileField(
        label="Servers", required=False, help_text=f"What `{imports.SERVERS_COMMAND}` prints."
    )
    migrations_json = forms.FileField(
        label="Migrations", required=False,
        help_text=f"What `{imports.MIGRATIONS_COMMAND}` prints: a migration's allocations are told by its UUID.",
    )
    flavors_json = forms.FileField(
        label="Flavors", required=False,
        help_text=f"What `{imports.FLAVORS_COMMAND}` prints. Without it a flavor's sizes are what its servers "
        "hold, and a flavor mismatch cannot be seen.",
    )
    compute_url = forms.CharField(
        label="Compute URL", required=False, max_length=500,
        help_text="Or read Nova itself (…/v2.1): its servers, migrations and flavors, instead of the files.",
    )
    replace = forms.BooleanField(required=False, help_text="Replace the cloud imported earlier under this name.")

    MAX_FILE = 50 * 1024 * 1024

    @staticmethod
    def _endpoint(url):
        """An http(s) URL with a host (a bare name like controller:8778 included)."""
        from urllib.parse import urlsplit

        url = url.strip()
        parts = urlsplit(url)
        if not url or parts.scheme not in ("http", "https") or not parts.hostname:
            raise forms.ValidationError("Enter an http:// or https:// URL.")
        return url

    def clean_placement_url(self):
        return self._endpoint(self.cleaned_data["placement_url"])

    def clean_compute_url(self):
        url = self.cleaned_data["compute_url"]
        return self._endpoint(url) if url.strip() else ""

    def clean_name(self):
        name = self.cleaned_data["name"]
        if name == "import":  # /clouds/import/ is this form
            raise forms.ValidationError("This name is the import page's: choose another.")
        return name

    def clean(self):
        data = super().clean()
        files = [data.get(name) for name in ("servers_json", "migrations_json", "flavors_json")]
        if data.get("compute_url") and any(files):
            raise forms.ValidationError("Give either the compute URL or the files, not both.")
        if not data.get("compute_url") and not data.get("servers_json"):
            self.add_error("servers_json", "Give Nova's servers: this file, or the compute URL.")
        for name in ("servers_json", "migrations_json", "flavors_json"):
            upload = data.get(name)
            if upload is not None:
                if upload.size > self.MAX_FILE:
                    self.add_error(name, "This file is larger than 50 MB.")
                    continue
                try:
                    data[name] = upload.read().decode("utf-8")
                except UnicodeDecodeError:
                    self.add_error(name, "This file is not UTF-8 text.")
        return data
