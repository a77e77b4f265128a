"""Display of summary figures: one decimal on pages (docs/domain.md), a dash for unknown."""

import json

from django import template
from django.core.serializers.json import DjangoJSONEncoder

from diary.figures.patient_figures import LOW_COMPLIANCE_PCT

register = template.Library()

DASH = "—"


@register.filter
def figure(value, suffix=""):
    """12.345 -> "12.3", None -> "—"; integers unchanged; an optional suffix ("%")."""
    if value is None or value == "":
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value}{suffix}"
    return f"{value:.1f}{suffix}"


@register.simple_tag
def low_compliance_pct():
    """The compliance (in %) below which a phase or a patient is flagged, for the pages
    that state the rule."""
    return LOW_COMPLIANCE_PCT


@register.filter
def attr(obj, name):
    return getattr(obj, name, None)


@register.filter
def as_json(value):
    """JSON for a data-* attribute (autoescaping makes it safe there)."""
    return json.dumps(value, cls=DjangoJSONEncoder)
