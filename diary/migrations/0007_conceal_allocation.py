"""Allocation concealment on installations made before it:

- a built-in protocol whose seed is still its published slug gets a secret seed from a
  cryptographic generator (later allocations cannot be computed by anyone; the block in
  progress when this runs may end unbalanced by one, every later block is balanced);
- randomization numbers count from 1, as the rows of a randomization list do.

Both changes are written into the rows' history with the reason, like any other change.
"""

import secrets

from django.db import migrations
from django.db.models import F
from django.utils import timezone

SHIFT = 1_000_000  # moves numbers out of the way so the unique constraint holds throughout


def _record(apps, model_name, obj, reason):
    """A history row for `obj` as it is now (what django-simple-history would write)."""
    historical = apps.get_model("diary", f"Historical{model_name}")
    values = {
        field.attname: getattr(obj, field.attname)
        for field in obj._meta.concrete_fields
        if field.attname in {f.attname for f in historical._meta.concrete_fields}
    }
    historical.objects.create(
        **values,
        history_date=timezone.now(),
        history_type="~",
        history_change_reason=reason,
    )


def conceal(apps, schema_editor):
    Protocol = apps.get_model("diary", "Protocol")
    Enrollment = apps.get_model("diary", "Enrollment")
    for protocol in Protocol.objects.all():
        if protocol.randomization_seed == protocol.slug:
            protocol.randomization_seed = secrets.token_hex(16)
            protocol.save(update_fields=["randomization_seed"])
            _record(apps, "Protocol", protocol, "A secret seed replaces the published one")
    randomized = Enrollment.objects.filter(randomization_number__isnull=False)
    if not randomized.exists():
        return
    randomized.update(randomization_number=F("randomization_number") + SHIFT)
    randomized.update(randomization_number=F("randomization_number") - SHIFT + 1)
    for enrollment in randomized:
        _record(apps, "Enrollment", enrollment, "Randomization numbers count from 1")


class Migration(migrations.Migration):
    dependencies = [("diary", "0006_blinding_allocation")]

    operations = [migrations.RunPython(conceal, migrations.RunPython.noop)]
