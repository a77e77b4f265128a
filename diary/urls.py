import datetime as dt

from django.urls import path, register_converter

from diary import views


class IsoDateConverter:
    """YYYY-MM-DD in the URL; an impossible date (2026-02-30) is a 404, not an error."""

    regex = r"\d{4}-\d{2}-\d{2}"

    def to_python(self, value: str) -> dt.date:
        return dt.date.fromisoformat(value)  # ValueError -> no match -> 404

    def to_url(self, value: dt.date) -> str:
        return value.isoformat()


register_converter(IsoDateConverter, "isodate")

app_name = "diary"
urlpatterns = [
    path("diary/", views.today, name="today"),
    path("diary/history/", views.history, name="history"),
    path("diary/settings/", views.reminder_settings, name="settings"),
    path("diary/<isodate:day>/", views.day, name="day"),
    path("physician/", views.physician_home, name="physician_home"),
    path("physician/calendar/", views.calendar, name="calendar"),
    path("physician/alerts/", views.alerts, name="alerts"),
    path(
        "physician/alerts/<int:pk>/acknowledge/",
        views.acknowledge_alert,
        name="acknowledge_alert",
    ),
    path("physician/cohort/", views.cohort, name="cohort"),
    path("exports/", views.exports, name="exports"),
    path("exports/codebook.csv", views.codebook, name="codebook"),
    path("physician/patients/<str:study_id>/", views.patient_detail, name="patient_detail"),
    path(
        "physician/patients/<str:study_id>/report.pdf",
        views.patient_report,
        name="patient_report",
    ),
]
