"""The filter forms of the physician pages fold behind a "Filters" toggle on a phone;
the toggle says how many filters are on."""

from django import template

register = template.Library()

# Fields that order or page the list rather than narrow it.
NOT_FILTERS = {"sort", "page"}


@register.simple_tag
def active_filters(form) -> int:
    """How many of `form`'s filters narrow the page: a value given that is not the
    field's default."""
    if form is None or not form.is_bound:
        return 0
    count = 0
    for name, field in form.fields.items():
        if name in NOT_FILTERS:
            continue
        value = str(form.data.get(name, "") or "").strip()
        initial = form.initial.get(name, field.initial)
        if value and value != str(initial if initial is not None else ""):
            count += 1
    return count
