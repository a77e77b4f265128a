from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_migrate
from simple_history.signals import post_create_historical_record


class DiaryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "diary"
    verbose_name = "Pain diary"

    def ready(self):
        from diary import tasks
        from diary.people.languages import remember_browser_language
        from diary.signoff import backstop
        from diary.signoff.invalidation import record_changed

        user_logged_in.connect(remember_browser_language, dispatch_uid="diary-language")
        # Locked data take no change from any door.
        backstop.connect()
        # A change to a signed phase's entries or visits invalidates its signatures.
        post_create_historical_record.connect(record_changed, dispatch_uid="diary-signoff")
        # After the diary's own migrations (django_q's table exists by then).
        post_migrate.connect(tasks.sync_schedules, sender=self, dispatch_uid="diary-schedules")
