"""The run form: one field per declared run parameter (``simulator/params.py``), plus the scenario.

Fields, their help, what an empty value means and the messages for bad values come from the
declaration; this module only chooses how each kind is typed in (a select, a datalist, a
comma list, checkboxes). The simulator validates what is submitted.
"""
from django import forms
from django.urls import reverse_lazy

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
        # A run's cloud is a fresh one or one of the shared clouds (any cloud by name over REST).
        shared = list(Cloud.objects.filter(shared=True).values_list("name", flat=True))
        self.fields["cloud"] = forms.ChoiceField(
            required=False,
            choices=[("", PARAMS["cloud"].empty)] + [(name, name) for name in shared],
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
