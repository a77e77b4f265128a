from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from diary.people import twofactor
from diary.people.signin import RationedPasswordResetForm
from diary.views import patient, site

# The admin (diary.admin_site) reads its modules here, with the URLs, and not in every
# management command.
admin.autodiscover()

urlpatterns = [
    path("", site.home, name="home"),
    path("healthz", site.healthz, name="healthz"),
    path("manifest.webmanifest", site.manifest, name="manifest"),
    path("i18n/setlang/", site.set_language, name="set_language"),
    path("reminders/<str:token>/", patient.reminder_link, name="reminder_link"),
    path(
        "accounts/invite/<uidb64>/<token>/",
        site.InvitationView.as_view(),
        name="invitation",
    ),
    path("accounts/two-factor/", twofactor.verify, name="two_factor"),
    path("accounts/two-factor/setup/", twofactor.setup, name="two_factor_setup"),
    path(
        "accounts/password_reset/",
        auth_views.PasswordResetView.as_view(form_class=RationedPasswordResetForm),
        name="password_reset",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("", include("diary.urls")),
]
