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

from diary.migration_history import record

SHIFT = 1_000_000  # moves numbers out of the way so the unique constraint holds throughout


def conceal(apps, schema_editor):
    Protocol = apps.get_model("diary", "Protocol")
    Enrollment = apps.get_model("diary", "Enrollment")
    for protocol in Protocol.objects.all():
        if protocol.randomization_seed == protocol.slug:
            protocol.randomization_seed = secrets.token_hex(16)
            protocol.save(update_fields=["randomization_seed"])
            record(apps, "Protocol", protocol, "A secret seed replaces the published one")
    randomized = Enrollment.objects.filter(randomization_number__isnull=False)
    if not randomized.exists():
        return
    randomized.update(randomization_number=F("randomization_number") + SHIFT)
    randomized.update(randomization_number=F("randomization_number") - SHIFT + 1)
    for enrollment in randomized:
        record(apps, "Enrollment", enrollment, "Randomization numbers count from 1")


class Migration(migrations.Migration):
    dependencies = [("diary", "0006_blinding_allocation")]

    operations = [migrations.RunPython(conceal, migrations.RunPython.noop)]
