"""Which language a page and an e-mail are in.

One rule for every page (`page_language`): staff pages and exports are in English, the
language docs/domain.md names things in, whatever the browser asks for; a patient page
is in the language saved on the account it is for (the one she picked with the switch
or in her settings, else the one the coordinator noted when enrolling her, else the one
her browser asked for when she first signed in); only a page for nobody in particular,
or for an account with no language saved, follows the switch's cookie, else the
browser's Accept-Language (what LocaleMiddleware found).

The account is the signed-in user's (PageLanguageMiddleware); on the invitation link,
where nobody is signed in yet, it is the invited account's (diary.views.site
.InvitationView), so that her welcome page is in the language of her invitation e-mail
and so is her diary once she is signed in.
"""

from django.conf import settings
from django.utils import translation

STAFF_PREFIXES = ("/admin/", "/physician/", "/exports/", "/accounts/two-factor/")


def page_language(request, account=None) -> str:
    """The language of the page `request` asks for, a page for `account` (None or
    anonymous: for nobody in particular)."""
    if request.path_info.startswith(STAFF_PREFIXES):
        return "en"
    saved = getattr(account, "language", "")
    if is_supported(saved):
        return saved
    return translation.get_language_from_request(request)


def use_page_language(request, account=None) -> None:
    """Render the rest of `request` (its page, its messages, Content-Language) in
    `page_language`."""
    language = page_language(request, account)
    translation.activate(language)
    request.LANGUAGE_CODE = language


class PageLanguageMiddleware:
    """After LocaleMiddleware and AuthenticationMiddleware: each page in `page_language`
    for the signed-in user. LocaleMiddleware alone runs before anyone is known and so
    only ever listens to the cookie and the browser."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        use_page_language(request, getattr(request, "user", None))
        return self.get_response(request)


def remember_browser_language(sender, request, user, **kwargs):
    """Until she picks a language herself, her e-mails (reminders are sent outside any
    request) and pages use the one her browser asked for when she signed in. A request
    that asks for none (no cookie, no Accept-Language) records nothing: the study's
    default would then pass for her choice."""
    if not request or user.language:
        return
    asked = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) or request.META.get(
        "HTTP_ACCEPT_LANGUAGE"
    )
    language = translation.get_language_from_request(request) if asked else None
    if is_supported(language):
        user.language = language
        user.save(update_fields=["language"])


def is_supported(language: str | None) -> bool:
    """Only the study's languages (English, Spanish) are ever stored or used."""
    return language in dict(settings.LANGUAGES)


def language_of(user) -> str:
    """The language of `user`'s e-mails: hers if it is one of the study's, else the
    study's default."""
    return user.language if is_supported(user.language) else settings.LANGUAGE_CODE
