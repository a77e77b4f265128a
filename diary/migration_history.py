"""History rows written by data migrations, so that a change made by a migration is in
the audit trail like any other change (django-simple-history's own signals do not run
on the historical models a migration works with)."""

from django.utils import timezone


def record(apps, model_name: str, obj, reason: str) -> None:
    """A "changed" history row for `obj` as it is now, with `reason`."""
    historical = apps.get_model("diary", f"Historical{model_name}")
    columns = {field.attname for field in historical._meta.concrete_fields}
    values = {
        field.attname: getattr(obj, field.attname)
        for field in obj._meta.concrete_fields
        if field.attname in columns
    }
    historical.objects.create(
        **values, history_date=timezone.now(), history_type="~", history_change_reason=reason
    )
