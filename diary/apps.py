from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in
from django.utils import translation


def remember_browser_language(sender, request, user, **kwargs):
    """Until she picks a language herself, her e-mails (reminders are sent outside any
    request) use the one her browser asked for when she signed in."""
    language = translation.get_language_from_request(request) if request else None
    if not user.language and language:
        user.language = language
        user.save(update_fields=["language"])


class DiaryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "diary"
    verbose_name = "LDN diary"

    def ready(self):
        user_logged_in.connect(remember_browser_language, dispatch_uid="diary-language")
