"""The pages of the whole site: the health probe, the home page that sends each role
to its own, the web app manifest, the language switch and the invitation link."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.db import Error as DatabaseFailure
from django.db import connection
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import reverse, reverse_lazy
from django.utils import translation
from django.utils.translation import gettext as _
from django.views import i18n as i18n_views
from django.views.decorators.http import require_GET, require_POST, require_safe

from diary.people.languages import is_supported, use_page_language
from diary.security import RETRY_AFTER_SECONDS


@login_not_required
@require_safe
def healthz(request):
    """Health probe for load balancers (GET or HEAD): "ok" when the database answers a
    `SELECT 1`, else 503 (with Retry-After) saying so, so that the balancer sends no
    patient to a server that cannot save her entry."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseFailure:
        return HttpResponse(
            "unavailable: the database does not answer",
            status=503,
            content_type="text/plain",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return HttpResponse("ok", content_type="text/plain")


def home(request):
    user = request.user
    if user.is_patient:
        return redirect("diary:today")
    if user.is_physician or user.is_coordinator:
        return redirect("diary:physician_home")
    raise Http404("Nothing here for this account.")


@login_not_required
@require_GET
def manifest(request):
    """The web app manifest: the diary can be added to a phone's home screen."""
    data = {
        "name": _("Pain Diary"),
        "short_name": _("Pain Diary"),
        "description": _("Your daily pain diary for the LDN study."),
        "lang": translation.get_language(),
        "start_url": reverse("diary:today"),
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0b5ed7",
        "icons": [
            {"src": static("icons/icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": static("icons/icon-512.png"), "sizes": "512x512", "type": "image/png"},
            {
                "src": static("icons/icon-maskable-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
            {"src": static("icons/icon.svg"), "sizes": "any", "type": "image/svg+xml"},
        ],
    }
    return JsonResponse(data, content_type="application/manifest+json")


@login_not_required
@require_POST
def set_language(request):
    """The language switch: Django's set_language (the cookie), and for a signed-in user
    also her account, so her reminder e-mails follow."""
    language = request.POST.get("language")
    if not is_supported(language):
        return HttpResponseBadRequest(
            _("Choose English or Spanish."), content_type="text/plain; charset=utf-8"
        )
    response = i18n_views.set_language(request)
    _save_account_language(request.user, language)
    return response


def remember_language(request, response, language: str) -> None:
    """What the switch does, for the settings page: the cookie and her account."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
        secure=settings.LANGUAGE_COOKIE_SECURE,
    )
    _save_account_language(request.user, language)


def _save_account_language(user, language: str) -> None:
    if user.is_authenticated and user.language != language:
        user.language = language
        user.save(update_fields=["language"])


class InvitationView(auth_views.PasswordResetConfirmView):
    """The link of an invitation e-mail (diary.trial.invitations.send_invitation): the new user
    chooses her password once and is signed in. Django's token makes the link one-time
    (it no longer matches once a password is set) and expire (PASSWORD_RESET_TIMEOUT).

    A link that works shows its page in the invited account's language, the one her
    invitation e-mail was written in (page_language); one that no longer works proves
    nothing about who opens it, and follows her browser."""

    template_name = "registration/invitation.html"
    post_reset_login = True
    post_reset_login_backend = "django.contrib.auth.backends.ModelBackend"
    success_url = reverse_lazy("home")

    # Django calls get and post only for a link that works (self.user is its account).
    def get(self, request, *args, **kwargs):
        use_page_language(request, self.user)
        return super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        use_page_language(request, self.user)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, _("Your password is saved and you are signed in."))
        return response
