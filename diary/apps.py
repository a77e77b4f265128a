from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_migrate


class DiaryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "diary"
    verbose_name = "Pain diary"

    def ready(self):
        from diary import tasks
        from diary.people.languages import remember_browser_language

        user_logged_in.connect(remember_browser_language, dispatch_uid="diary-language")
        # After the diary's own migrations (django_q's table exists by then).
        post_migrate.connect(tasks.sync_schedules, sender=self, dispatch_uid="diary-schedules")
