"""The two built-in protocols: the 2013 double-blind crossover and the 2009 pilot."""

import secrets
from decimal import Decimal

from django.db import migrations

LDN_DOSE = Decimal("4.5")

PROTOCOLS = [
    {
        "slug": "ldn-fm-2013",
        "name": "Fibromyalgia, double-blind crossover (Younger et al. 2013)",
        "blinding": "double",
        "block_size": 4,
        "arms": {
            "A": [("baseline", 14), ("ldn", 84), ("placebo", 28), ("followup", 28)],
            "B": [("baseline", 14), ("placebo", 28), ("ldn", 84), ("followup", 28)],
        },
    },
    {
        "slug": "ldn-fm-2009",
        "name": "Fibromyalgia, single-blind pilot (Younger & Mackey 2009)",
        "blinding": "single",
        "block_size": 1,
        "arms": {
            "P": [("baseline", 14), ("placebo", 14), ("ldn", 56), ("washout", 14)],
        },
    },
]


def create_protocols(apps, schema_editor):
    Protocol = apps.get_model("diary", "Protocol")
    Arm = apps.get_model("diary", "Arm")
    Phase = apps.get_model("diary", "Phase")
    for spec in PROTOCOLS:
        protocol, created = Protocol.objects.get_or_create(
            slug=spec["slug"],
            defaults={
                "name": spec["name"],
                "blinding": spec["blinding"],
                "block_size": spec["block_size"],
                # Secret and different on every installation: a published seed would
                # let anyone compute the allocation sequence.
                "randomization_seed": secrets.token_hex(16),
            },
        )
        if not created:
            continue
        for code, phases in spec["arms"].items():
            arm = Arm.objects.create(protocol=protocol, code=code, name=f"Arm {code}")
            for order, (kind, days) in enumerate(phases, start=1):
                Phase.objects.create(
                    arm=arm,
                    order=order,
                    kind=kind,
                    days=days,
                    dose_mg=LDN_DOSE if kind == "ldn" else None,
                )


class Migration(migrations.Migration):
    dependencies = [("diary", "0001_initial")]

    operations = [migrations.RunPython(create_protocols, migrations.RunPython.noop)]
