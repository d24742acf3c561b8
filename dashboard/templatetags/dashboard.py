"""The dashboard's template tags: one usage bar and one status badge, used everywhere."""
from django import template

from simulator.states import VerdictResult, status_colour

register = template.Library()


@register.inclusion_tag("includes/usage_bar.html")
def usage_bar(bar):
    """A stacked, accessible usage bar with its "Used X of Y" caption."""
    return {"bar": bar}


@register.inclusion_tag("includes/status_badge.html")
def status_badge(value, text=None):
    """A badge in the colour of a Nova status, migration status, run status or result."""
    return {"value": value, "text": text or value or "—", "colour": status_colour(value)}


@register.inclusion_tag("includes/verdict_badge.html")
def verdict_badge(verdict):
    """Matched / mismatch / no expectation / aborted."""
    result = VerdictResult((verdict or {}).get("result", VerdictResult.NONE))
    return {"text": result.label, "colour": status_colour(result), "summary": (verdict or {}).get("summary", "")}
