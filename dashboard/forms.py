"""The run form: turns what a user types into a run's parameters (the simulator validates them)."""
from django import forms
from django.urls import reverse_lazy

from simulator.cloud import DEFAULT_FLAVORS
from simulator.driver import DRIVERS, EXCEPTIONS, POINTS
from simulator.models import Cloud
from simulator.scenarios import CUSTOM, DEFAULTS, KNOWN_BUGS, MAX_STEP_DELAY, SCENARIOS
from simulator.states import VmState

THEN = [("none", "leave it in VERIFY_RESIZE"), ("confirm", "confirm"), ("revert", "revert")]


class RunForm(forms.Form):
    scenario = forms.ChoiceField(
        choices=[(name, name) for name in [*SCENARIOS, CUSTOM]],
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
    cloud = forms.ChoiceField(
        required=False, help_text="A fresh cloud built from the scenario's template, or a shared cloud."
    )
    hosts = forms.CharField(required=False, help_text="Hosts of a fresh cloud, comma separated.")
    driver = forms.ChoiceField(choices=[(d, d) for d in DRIVERS], required=False)
    server = forms.CharField(help_text="Booted on the source host unless it exists in the cloud.")
    source_host = forms.CharField()
    flavor = forms.CharField(
        help_text="Flavor the server boots with (name or flavorid).", widget=forms.TextInput(attrs={"list": "flavors"})
    )
    new_flavor = forms.CharField(help_text="Flavor to resize to.", widget=forms.TextInput(attrs={"list": "flavors"}))
    dest_host = forms.CharField(required=False, help_text="Empty: let the scheduler choose.")
    vm_state = forms.ChoiceField(choices=VmState.choices)
    fail_at = forms.ChoiceField(required=False, choices=[("", "no failure")] + [(n, f"{n} — {p.where}") for n, p in POINTS.items()])
    exception = forms.ChoiceField(required=False, choices=[("", "the point's default")] + [(e, e) for e in EXCEPTIONS])
    inner_exception = forms.ChoiceField(
        required=False, choices=[("", "—")] + [(e, e) for e in EXCEPTIONS], help_text="Wrapped by InstanceFaultRollback."
    )
    reason = forms.CharField(required=False)
    fail_host = forms.CharField(required=False, help_text="Empty: the driver fails on every host.")
    bugs = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[(number, f"{number}: {text}") for number, text in KNOWN_BUGS.items()],
        help_text="Known Nova bugs switched back on.",
    )
    then = forms.ChoiceField(choices=THEN, widget=forms.RadioSelect)
    allow_resize_to_same_host = forms.BooleanField(required=False)
    max_attempts = forms.IntegerField(min_value=1, max_value=10)
    step_delay = forms.FloatField(min_value=0, max_value=MAX_STEP_DELAY, help_text="Seconds each step takes.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        shared = list(Cloud.objects.filter(shared=True).values_list("name", flat=True))
        self.fields["cloud"].choices = [("", "a fresh cloud")] + [(name, name) for name in shared]
        self.flavor_names = [name for _, name, *_ in DEFAULT_FLAVORS]

    @staticmethod
    def initial_for(params):
        """Form values for a run's (or a preset's) parameters."""
        initial = {**DEFAULTS, **params}
        initial["hosts"] = ", ".join(initial.get("hosts") or [])
        for key in ("cloud", "dest_host", "fail_at", "exception", "inner_exception", "reason", "fail_host", "driver"):
            initial[key] = initial.get(key) or ""
        return initial

    def overrides(self):
        """The parameters to start the run with."""
        data = dict(self.cleaned_data)
        data.pop("loaded")
        scenario = data.pop("scenario")
        data["hosts"] = [h.strip() for h in data["hosts"].split(",") if h.strip()]
        for key in ("cloud", "dest_host", "fail_at", "exception", "inner_exception", "reason", "fail_host"):
            data[key] = data[key] or None
        if data["cloud"]:
            data.pop("hosts")
            data.pop("driver")
        if data["step_delay"] == int(data["step_delay"]):
            data["step_delay"] = int(data["step_delay"])
        return scenario, data
