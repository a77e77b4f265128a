"""Integrity rules the database keeps: an entry that is not voided has no void reason,
and a patient has at most one screening or active enrollment per protocol. Accounts
whose stored language is neither English nor Spanish go back to the study's default."""

from django.db import migrations, models

from diary.migration_history import record


def clear_stale_void_reasons(apps, schema_editor):
    """Entries un-voided before the rule kept their old reason; it is cleared, and the
    history keeps it."""
    DiaryEntry = apps.get_model("diary", "DiaryEntry")
    for entry in DiaryEntry.objects.filter(voided=False).exclude(void_reason=""):
        entry.void_reason = ""
        entry.save(update_fields=["void_reason"])
        record(apps, "DiaryEntry", entry, "Void reason cleared: the entry counts again")


def drop_unknown_languages(apps, schema_editor):
    User = apps.get_model("diary", "User")
    for user in User.objects.exclude(language__in=["", "en", "es"]):
        user.language = ""
        user.save(update_fields=["language"])
        record(apps, "User", user, "Language reset: only English and Spanish are offered")


class Migration(migrations.Migration):
    dependencies = [("diary", "0007_conceal_allocation")]

    operations = [
        migrations.RunPython(clear_stale_void_reasons, migrations.RunPython.noop),
        migrations.RunPython(drop_unknown_languages, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="diaryentry",
            constraint=models.CheckConstraint(
                condition=models.Q(("voided", True), ("void_reason", ""), _connector="OR"),
                name="void_reason_only_when_voided",
            ),
        ),
        # An installation where a patient already has two open enrollments in one
        # protocol stops here: a coordinator completes or withdraws one, then migrates.
        migrations.AddConstraint(
            model_name="enrollment",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status__in", ["screening", "active"])),
                fields=("patient", "protocol"),
                name="one_open_enrollment_per_patient_and_protocol",
            ),
        ),
    ]
