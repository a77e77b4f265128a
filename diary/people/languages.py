"""Which language a page and an e-mail are in.

The patient side is in English or Spanish (LocaleMiddleware: the switch's cookie, else
the browser's Accept-Language). Staff pages and exports stay in English, the language
docs/domain.md names things in, whatever the browser asks for.
"""

from django.conf import settings
from django.utils import translation

STAFF_PREFIXES = ("/admin/", "/physician/", "/exports/", "/accounts/two-factor/")


class StaffPagesInEnglishMiddleware:
    """After LocaleMiddleware: staff pages are English only, so a Spanish browser never
    gets a page half in Django's Spanish and half in the study's English."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith(STAFF_PREFIXES):
            translation.activate("en")
            request.LANGUAGE_CODE = "en"
        return self.get_response(request)


def remember_browser_language(sender, request, user, **kwargs):
    """Until she picks a language herself, her e-mails (reminders are sent outside any
    request) use the one her browser asked for when she signed in."""
    language = translation.get_language_from_request(request) if request else None
    if not user.language and is_supported(language):
        user.language = language
        user.save(update_fields=["language"])


def is_supported(language: str | None) -> bool:
    """Only the study's languages (English, Spanish) are ever stored or used."""
    return language in dict(settings.LANGUAGES)


def language_of(user) -> str:
    """The language of `user`'s e-mails: hers if it is one of the study's, else the
    study's default."""
    return user.language if is_supported(user.language) else settings.LANGUAGE_CODE
