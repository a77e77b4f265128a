from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in


class DiaryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "diary"
    verbose_name = "Pain diary"

    def ready(self):
        from diary.people.languages import remember_browser_language

        user_logged_in.connect(remember_browser_language, dispatch_uid="diary-language")
