"""What the campaign pages show, computed in Python from ``simulator.campaigns``.

- Axis values in the syntax of ``simulator.campaigns.parse_value``/``format_value``: the form and
  a matrix cell's link use it, so a cell's values read back exactly.
- The outcome totals as a server-side SVG bar chart (``outcome_chart``).
- The matrix of two axes (``matrix``): one cell per pair of values, coloured by the worst
  outcome among its runs (severity from ``OUTCOMES``), with its counts per outcome.
- Two campaigns' matrices, cell by cell (``compare``).
"""
import json
from dataclasses import dataclass, field
from urllib.parse import urlencode

from simulator.campaigns import ALL, OUTCOMES, CampaignError, all_values, format_value, parse_value
from simulator.params import CHOICES, DEFAULTS, FLAG, INTEGER, NAMES, NUMBER, PARAMS
from simulator.presets import SCENARIOS

# The colours of OUTCOMES as the stylesheet's (the SVG carries them itself).
COLOURS = {
    "red": "#c93636", "orange": "#e07b1a", "yellow": "#b98300", "blue": "#2f6fd6", "green": "#1e8e4e",
    "gray": "#7a8494",
}
ORDER = {key: position for position, key in enumerate(OUTCOMES)}


def value_text(name, value):
    """An axis value for people (the same as typed, the parameter's unknown ones as JSON)."""
    param = PARAMS.get(name)
    return format_value(param, value) if param else json.dumps(value)


def value_key(value):
    """A value as a dictionary key (lists and null included; 3.0 and 3 alike)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return json.dumps(value, sort_keys=True)


def has_all(name):
    """Whether "all valid values" makes sense for a parameter (a finite set of values)."""
    try:
        all_values(name, DEFAULTS)
    except CampaignError:
        return False
    return True


def example(param):
    """What a list of values of a parameter looks like, for the form's placeholder."""
    if param.kind == FLAG:
        return "true, false"
    if param.kind == INTEGER:
        return f"{param.minimum:g}, {param.maximum:g}"
    if param.kind == NUMBER:
        return f"{param.minimum:g}, {param.minimum + 0.5:g}"
    if param.kind == CHOICES:
        return f"none, {'+'.join(param.values)}"
    if param.kind == NAMES:
        default = param.default or ["name1", "name2"]
        return f"{default[0]}, {'+'.join(default)}"
    values = param.values[:2] if param.values else [param.default or "name1", "name2"]
    return ", ".join(["none", *values] if param.nullable else values)


def filter_rows(rows, query):
    """Result rows whose values match ``query`` ({axis: text}) and its ``outcome``; returns the rows,
    the filters applied [(axis, text)] and the errors [(axis, message)] of those ignored."""
    applied, errors, wanted = [], [], {}
    for name, text in query.items():
        if name == "outcome":
            if text in OUTCOMES:
                applied.append((name, OUTCOMES[text][0]))
            else:
                errors.append((name, f"Unknown outcome '{text}'. Known: {', '.join(OUTCOMES)}."))
            continue
        if name not in PARAMS:
            continue
        try:
            wanted[name] = value_key(parse_value(PARAMS[name], text))
        except ValueError as error:
            errors.append((name, str(error)))
            continue
        applied.append((name, text))
    outcome = query.get("outcome") if query.get("outcome") in OUTCOMES else None
    kept = [
        row for row in rows
        if all(value_key(row["values"].get(name)) == key for name, key in wanted.items())
        and (outcome is None or row["outcome"] == outcome)
    ]
    return kept, applied, errors


# -- outcomes ----------------------------------------------------------------------------------
def worst(outcomes):
    """The worst of some outcomes (highest severity; the first declared among equals), or None."""
    present = [key for key in outcomes if key in OUTCOMES]
    if not present:
        return None
    return max(present, key=lambda key: (OUTCOMES[key][2], -ORDER[key]))


def totals(rows):
    """{outcome: number of runs}, of the finished runs."""
    counted = {}
    for row in rows:
        if row["outcome"]:
            counted[row["outcome"]] = counted.get(row["outcome"], 0) + 1
    return counted


def outcome_badge(key):
    """An outcome as a badge: its key, label and colour."""
    label, colour, _ = OUTCOMES[key]
    return {"key": key, "label": label, "colour": colour}


def outcome_chart(counted, title, link=""):
    """A horizontal bar per outcome (worst first): its label, a bar as long as its share of the
    largest, and its count, laid out here so the template only draws them."""
    shown = [(key, n) for key in OUTCOMES if (n := counted.get(key))]
    label_width, bar_width, row_height, bar_height = 190, 330, 28, 18
    largest = max((n for _, n in shown), default=1)
    bars = []
    for position, (key, n) in enumerate(shown):
        label, colour, _ = OUTCOMES[key]
        width = max(2.0, round(bar_width * n / largest, 1))
        top = 6 + position * row_height
        bars.append({
            "key": key, "label": label, "count": n, "colour": COLOURS[colour], "width": width,
            "y": top, "text_y": top + bar_height / 2 + 5, "count_x": label_width + width + 6,
            "link": f"{link}?outcome={key}" if link else "",
        })
    summary = ", ".join(f"{bar['count']} {bar['label']}" for bar in bars) or "no finished run yet"
    return {
        "bars": bars,
        "title": f"{title}: {summary}",
        "width": label_width + bar_width + 50,
        "height": 12 + len(bars) * row_height,
        "label_width": label_width,
        "label_x": label_width - 8,
        "bar_height": bar_height,
    }


# -- the matrix ----------------------------------------------------------------------------------
DEFAULT_PAIRS = (("fail_at", "then"), ("fail_at", "exception"))


def choose_axes(names, x, y):
    """(x, y, note): the axis of the columns, that of the rows (None: a single row), and why the
    user's choice was not taken. Default: rows fail_at × columns then if both are axes, else
    fail_at × exception, else the first two axes; one axis: a single row."""
    note = ""
    if x or y:
        if x not in names:
            note = f"No axis '{x}' in this campaign: its axes are {', '.join(names)}." if x else "Choose the columns."
        elif y and y not in names:
            note = f"No axis '{y}' in this campaign: its axes are {', '.join(names)}."
        elif x == y:
            note = "Rows and columns need two different axes."
        else:
            return x, y or None, ""
    for rows, columns in DEFAULT_PAIRS:
        if rows in names and columns in names:
            return columns, rows, note
    if len(names) >= 2:
        return names[1], names[0], note
    return (names[0] if names else None), None, note


@dataclass
class Cell:
    x: object
    y: object
    counts: dict = field(default_factory=dict)  # outcome -> finished runs
    planned: int = 0
    skipped: int = 0
    reasons: dict = field(default_factory=dict)  # reason -> combinations skipped
    url: str = ""

    @property
    def finished(self):
        return sum(self.counts.values())

    @property
    def waiting(self):
        """Runs of the cell not finished yet (running or not started)."""
        return self.planned - self.finished

    @property
    def worst(self):
        return worst(self.counts)

    @property
    def state(self):
        """What the cell amounts to: its worst outcome, or "skipped" (nothing to run), or
        "waiting" (nothing finished yet)."""
        if self.worst:
            return self.worst
        return "waiting" if self.planned else "skipped"

    @property
    def colour(self):
        return OUTCOMES[self.worst][1] if self.worst else "gray"

    @property
    def state_label(self):
        if self.worst:
            return OUTCOMES[self.worst][0]
        return "not finished" if self.planned else "skipped"

    def count_list(self):
        return [{**outcome_badge(key), "count": self.counts[key]} for key in OUTCOMES if self.counts.get(key)]

    def reason_list(self):
        return sorted(self.reasons.items(), key=lambda item: -item[1])


def axis_values(campaign, name):
    return list((campaign.definition.get("axes") or {}).get(name) or [])


def _union(*lists):
    seen, merged = set(), []
    for values in lists:
        for value in values:
            if value_key(value) not in seen:
                seen.add(value_key(value))
                merged.append(value)
    return merged


def cells(campaign, rows, x, y, xs=None, ys=None, link=""):
    """{(x key, y key): Cell} of a campaign over axes x (columns) and y (rows, None: one row)."""
    xs = axis_values(campaign, x) if xs is None else xs
    ys = (axis_values(campaign, y) if y else [None]) if ys is None else ys
    grid = {(value_key(xv), value_key(yv)): Cell(xv, yv) for yv in ys for xv in xs}

    def cell_of(values):
        xv, yv = values.get(x), values.get(y) if y else None
        key = (value_key(xv), value_key(yv))
        if key not in grid:  # a value outside the axis (a plan edited by hand): a cell of its own
            grid[key] = Cell(xv, yv)
        return grid[key]

    for values in campaign.plan:
        cell_of(values).planned += 1
    for row in rows:
        if row["outcome"]:
            cell = cell_of(row["values"])
            cell.counts[row["outcome"]] = cell.counts.get(row["outcome"], 0) + 1
    for entry in campaign.skipped:
        cell = cell_of(entry.get("values") or {})
        cell.skipped += 1
        cell.reasons[entry.get("reason", "")] = cell.reasons.get(entry.get("reason", ""), 0) + 1
    for xv in _union(xs, [cell.x for cell in list(grid.values())]):  # every pair of values has its cell
        for yv in _union(ys, [cell.y for cell in list(grid.values())]):
            grid.setdefault((value_key(xv), value_key(yv)), Cell(xv, yv))
    for cell in grid.values():
        query = {**({y: value_text(y, cell.y)} if y else {}), x: value_text(x, cell.x)}
        cell.url = f"{link}?{urlencode(query)}" if link else ""
    return grid


def layout(grid, x, y, xs, ys):
    """The matrix as the template draws it: the columns' values, then one row per value of y."""
    xs = _union(xs, [cell.x for cell in grid.values()])
    ys = _union(ys, [cell.y for cell in grid.values()])
    for cell in grid.values():
        cell.x_text, cell.y_text = value_text(x, cell.x), value_text(y, cell.y) if y else ""
    return {
        "x": x,
        "y": y,
        "columns": [value_text(x, value) for value in xs],
        "rows": [
            {"value": value_text(y, yv) if y else "", "cells": [grid.get((value_key(xv), value_key(yv))) for xv in xs]}
            for yv in ys
        ],
    }


def matrix(campaign, rows, x, y, link=""):
    """The matrix of a campaign's results over axes x (columns) and y (rows, or None: one row)."""
    xs, ys = axis_values(campaign, x), axis_values(campaign, y) if y else [None]
    grid = cells(campaign, rows, x, y, link=link)
    shown = layout(grid, x, y, xs, ys)
    others = [(name, len(values)) for name, values in (campaign.definition.get("axes") or {}).items()
              if name not in (x, y)]
    return {**shown, "others": others}


class Pair:
    """A cell of a comparison: a's and b's cells at the same values, and whether its state (worst
    outcome, or skipped) changed from a to b; a cell still waiting on either side does not count."""

    def __init__(self, a, b):
        self.a, self.b = a, b
        self.x, self.y = a.x, a.y
        self.settled = "waiting" not in (a.state, b.state)
        self.changed = self.settled and a.state != b.state


def compare(a, rows_a, b, rows_b, x, y, links=("", "")):
    """Two campaigns' matrices over the same axes, cell by cell (each side's cells link to its runs
    page, ``links``)."""
    xs = _union(axis_values(a, x), axis_values(b, x))
    ys = _union(axis_values(a, y), axis_values(b, y)) if y else [None]
    grid_a = cells(a, rows_a, x, y, xs, ys, link=links[0])
    grid_b = cells(b, rows_b, x, y, xs, ys, link=links[1])
    pairs = {}
    for key in [*grid_a, *(key for key in grid_b if key not in grid_a)]:
        left, right = grid_a.get(key), grid_b.get(key)
        pairs[key] = Pair(left or Cell(right.x, right.y), right or Cell(left.x, left.y))
    return {
        **layout(pairs, x, y, xs, ys),
        "changed": [pair for pair in pairs.values() if pair.changed],
        "cells": len(pairs),
        "unsettled": sum(not pair.settled for pair in pairs.values()),
    }


def base_value(definition, name):
    """(value, where from) of a parameter in a campaign's base: its override, or its preset's (the
    declared default for custom)."""
    params = definition.get("params") or {}
    if name in params:
        return params[name], ""
    scenario = definition.get("scenario", "")
    preset = SCENARIOS[scenario].all_params() if scenario in SCENARIOS else DEFAULTS
    return preset.get(name), f"{scenario}'s" if scenario in SCENARIOS else "default"


def definition_differences(a, b):
    """[(what, a's, b's)] where two campaigns' bases differ: the scenario and the parameters (an
    override, or the value the preset gives it)."""
    rows = []
    if a.definition.get("scenario") != b.definition.get("scenario"):
        rows.append(("scenario", a.definition.get("scenario"), b.definition.get("scenario")))
    names = (a.definition.get("params") or {}).keys() | (b.definition.get("params") or {}).keys()
    for name in sorted(names):
        (left, left_from), (right, right_from) = base_value(a.definition, name), base_value(b.definition, name)
        if value_key(left) != value_key(right):
            rows.append((name, _with_origin(left, left_from), _with_origin(right, right_from)))
    return rows


def _with_origin(value, origin):
    return f"{json.dumps(value)} ({origin})" if origin else json.dumps(value)


# -- what a campaign is, in a line -------------------------------------------------------------
def base_text(definition):
    """The base of a campaign: its scenario and the overrides, e.g. ``custom · fail_at=finish_migration``."""
    params = definition.get("params") or {}
    overrides = ", ".join(f"{name}={value_text(name, value)}" for name, value in params.items())
    return " · ".join(part for part in (definition.get("scenario", ""), overrides) if part)


def axes_text(definition):
    """Its axes and the number of values of each, e.g. ``then ×3 · bugs ×2``."""
    axes = definition.get("axes") or {}
    return " · ".join(f"{name} ×{len(values) if isinstance(values, list) else ALL}" for name, values in axes.items())


def duration_text(seconds):
    """About how long: "40 s", "3 min 5 s", "2 h 10 min"."""
    if seconds is None:
        return ""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
