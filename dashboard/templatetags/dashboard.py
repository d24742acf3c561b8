"""The dashboard's template tags: one usage bar and one badge, used everywhere."""
from django import template

from simulator.states import VOCABULARIES

register = template.Library()


@register.inclusion_tag("includes/usage_bar.html")
def usage_bar(bar):
    """A stacked, accessible usage bar with its "Used X of Y" caption."""
    return {"bar": bar}


@register.inclusion_tag("includes/badge.html")
def badge(vocabulary, value, title=""):
    """A value of one of the simulator's vocabularies ("run", "server", "migration", "event",
    "verdict", "audit") in its label and colour; "—" when there is none yet."""
    words = VOCABULARIES[vocabulary]
    if value is None or value == "":
        return {"value": None}
    label = words.label_of(value)
    return {"value": value, "attribute": words.ATTRIBUTE, "label": label, "colour": words.colour(value), "title": title}
