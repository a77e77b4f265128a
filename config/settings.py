"""Settings for the LDN pain diary, read from the environment.

With nothing set the app runs locally on SQLite with DEBUG on. In production set at
least DEBUG=0, SECRET_KEY, ALLOWED_HOSTS, SITE_ROOT and DATABASE_URL; with those,
`manage.py check --deploy` is clean (see README).
"""

import datetime as dt
import os
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def envbool(name: str, default: str) -> bool:
    """A yes/no setting; anything else (a typo such as DEBUG=flase) stops the start."""
    value = os.getenv(name, default).strip().lower()
    if value not in TRUE_WORDS + FALSE_WORDS:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not understood; use one of {', '.join(TRUE_WORDS)} or "
            f"{', '.join(FALSE_WORDS)}."
        )
    return value in TRUE_WORDS


def envint(name: str, default: int) -> int:
    return int(os.getenv(name, str(default)))


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.getenv(name, default).split(",") if item.strip()]


DEBUG = envbool("DEBUG", "True")

SECRET_KEY = os.getenv("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set SECRET_KEY in the environment when DEBUG is off.")
    SECRET_KEY = "local-development-only-not-secret"  # noqa: S105

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
SITE_ROOT = os.getenv("SITE_ROOT", "http://127.0.0.1:8000")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", SITE_ROOT)

INSTALLED_APPS = [
    # The admin's modules are loaded by config/urls.py (admin.autodiscover()), so
    # management commands, which need no URLs, start without them.
    "diary.admin_site.DiaryAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "crispy_forms",
    "crispy_bootstrap5",
    "simple_history",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    # Background jobs: the queue and the schedules in the database (docs/jobs.md).
    "django_q",
    "diary",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy and Permissions-Policy headers on every response.
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A database that does not answer gives 503 and a retry message (outside every
    # middleware that queries it, the session's included).
    "diary.security.DatabaseUnavailableMiddleware",
    # Input the diary cannot read (over the upload limit, not UTF-8, a NUL byte) is a
    # 400 with a message, before anything reads the form (the CSRF check does).
    "diary.security.RequestInputMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language from the switch's cookie, else the browser's Accept-Language;
    # PageLanguageMiddleware below has the last word.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The language of each page, once the user is known: staff pages in English, her
    # pages in the language saved on her account (diary.people.languages.page_language).
    "diary.people.languages.PageLanguageMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # Staff give a code from their authenticator app before anything else.
    "django_otp.middleware.OTPMiddleware",
    "diary.people.twofactor.SecondFactorMiddleware",
    "diary.security.StaffSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Records who made each change in the history tables.
    "simple_history.middleware.HistoryRequestMiddleware",
    # Turns a refused sign-in into the lockout page (last, as django-axes asks).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

# DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/ldn_diary; SQLite by default.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        # Each gunicorn worker keeps its connection (checked before reuse) instead of
        # opening one per request, which cost a third of a diary save's time
        # (benchmarks/bench_save.py). The development server opens a thread per
        # request, so there it stays 0.
        conn_max_age=envint("DB_CONN_MAX_AGE", 0 if DEBUG else 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default holds under concurrent saves: write-ahead logging lets
    # readers go on while one writer writes, every transaction takes the write lock when
    # it begins (so two saves queue instead of failing to upgrade a read lock), and a
    # writer waits up to 20 s for the lock instead of answering "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "diary.User"
AUTHENTICATION_BACKENDS = [
    # Refuses a sign-in that is locked out before the password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Old versions can be read in the admin's history, never restored over current data
# (a correction is a new change, with its own reason).
SIMPLE_HISTORY_REVERT_DISABLED = True
# Invitation and password-reset links stop working after this many seconds.
PASSWORD_RESET_TIMEOUT = envint("PASSWORD_RESET_TIMEOUT", 3 * 24 * 3600)

# Input limits. Uploads (CSV imports, randomization lists) are at most
# UPLOAD_LIMIT_BYTES; a request body at most that and 1 MB for the form around the file
# (diary.security.RequestInputMiddleware refuses a longer one from its Content-Length,
# before reading it). Form fields other than files take at most 2.5 MB (Django's
# default, made explicit: a diary entry is a few hundred bytes) and 1000 fields; no
# form takes more than one file. A file over FILE_UPLOAD_MAX_MEMORY_SIZE is spooled to
# a temporary file instead of memory.
UPLOAD_LIMIT_BYTES = 20 * 1024 * 1024
REQUEST_BODY_LIMIT_BYTES = UPLOAD_LIMIT_BYTES + 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
DATA_UPLOAD_MAX_NUMBER_FILES = 1
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# Sessions live in the database so any app server behind the load balancer can serve
# any request. Patients stay signed in for 14 days; staff are signed out after 30
# minutes without a request (diary.security.StaffSessionMiddleware).
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = envint("SESSION_COOKIE_AGE", 14 * 24 * 3600)
STAFF_SESSION_IDLE_SECONDS = envint("STAFF_SESSION_IDLE_SECONDS", 30 * 60)

LANGUAGE_CODE = "en"
# The patient side and its e-mails are translated; each language is named in itself.
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Date formats of the diary pages per language (config/formats/<lang>/formats.py).
FORMAT_MODULE_PATH = ["config.formats"]
# The language switch's cookie (Django's set_language and the patient's settings page).
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
# The study's default time zone: an enrollment's diary day is computed in its own
# time zone, which defaults to this one.
TIME_ZONE = os.getenv("TIME_ZONE", "America/Los_Angeles")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# E-mail: console by default; SMTP when EMAIL_HOST is set.
DEFAULT_FROM_EMAIL = os.getenv("DEFAULT_FROM_EMAIL", "Pain Diary <diary@localhost>")
if os.getenv("EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = os.getenv("EMAIL_HOST", "")
    EMAIL_PORT = envint("EMAIL_PORT", 587)
    EMAIL_HOST_USER = os.getenv("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.getenv("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", "True")
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# Background jobs (docs/jobs.md): django-q2 with its queue in this database, so any
# number of workers (`manage.py qcluster`) on any number of servers share it. A job is
# stopped after JOB_TIMEOUT seconds; one whose worker died is handed out again after
# JOB_RETRY seconds (must exceed the timeout, or a slow job would run twice at once).
JOB_TIMEOUT = envint("JOB_TIMEOUT", 1800)
JOB_RETRY = envint("JOB_RETRY", JOB_TIMEOUT + 120)
Q_CLUSTER = {
    "name": "ldn-diary",
    "orm": "default",
    # Processes per worker (cluster); SQLite takes one writer at a time.
    "workers": envint(
        "JOB_WORKERS", 1 if DATABASES["default"]["ENGINE"].endswith("sqlite3") else 2
    ),
    "timeout": JOB_TIMEOUT,
    "retry": JOB_RETRY,
    # Take one job at a time, so a worker that dies holds back only that one.
    "bulk": 1,
    "poll": 1,
    # A schedule missed while no worker ran runs once, not once per missed period.
    "catch_up": False,
    # Our jobs record their own failures (diary.jobs.runner.run); the library's own
    # records of periodic runs are kept for the last few hundred.
    "save_limit": 500,
    "ack_failures": True,
    "max_attempts": 3,
    "recycle": 200,
    "label": "Background jobs",
}
# Run a started job in the request instead of queueing it (tests only).
JOBS_RUN_INLINE = envbool("JOBS_RUN_INLINE", "False")
# Output files of jobs (whole-study exports) are kept this long, then removed.
JOB_FILES_KEPT = dt.timedelta(hours=envint("JOB_FILES_KEPT_HOURS", 48))
# A download from the export page made from more diary entries than this is prepared
# as a background job instead of being sent while the person waits (docs/jobs.md).
EXPORT_DIRECT_MAX_ROWS = envint("EXPORT_DIRECT_MAX_ROWS", 50000)
# Job files are stored in the database in pieces of this size (bytes).
JOB_CHUNK_BYTES = 1024 * 1024

# Reminder e-mails: how long "Pause reminders" in an e-mail pauses them.
REMINDER_SNOOZE_DAYS = envint("REMINDER_SNOOZE_DAYS", 7)

# docs/domain.md: a patient may create or change day D until the end of day D + grace.
DIARY_GRACE_DAYS = envint("DIARY_GRACE_DAYS", 1)
# docs/domain.md: an answer saved offline on her phone may arrive up to this many days
# after she gave it (its day's entry window applies to the moment she answered).
DIARY_OFFLINE_DAYS = envint("DIARY_OFFLINE_DAYS", 7)

# Staff (physicians, coordinators) sign in with a second factor (diary.people.twofactor). It
# may be turned off only for local development with DEBUG on.
STAFF_2FA = envbool("STAFF_2FA", "True")
if not STAFF_2FA and not DEBUG:
    raise ImproperlyConfigured("STAFF_2FA can be turned off only while DEBUG is on.")
OTP_TOTP_ISSUER = "Pain Diary"
# Wrong second-factor codes (diary.people.twofactor.wait_until): the first
# OTP_THROTTLE_FREE_FAILURES in a row (ours, not django-otp's) cost no wait; after each
# further one django-otp's back-off applies, counted from the first failure beyond the
# free ones: 1 s after the 4th, 2 s after the 5th, 4 s, 8 s, ... (256 s after the 12th).
OTP_THROTTLE_FREE_FAILURES = 3
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1

# Sign-in protection (diary.people.signin, django-axes): 5 failures for one user name from one
# address lock that pair for 15 minutes; 20 failures for one user name from anywhere
# lock the account until a coordinator unlocks it; 3 password-reset e-mails per account
# and hour.
SIGN_IN_FAILURES_PER_ADDRESS = envint("SIGN_IN_FAILURES_PER_ADDRESS", 5)
SIGN_IN_COOLOFF = dt.timedelta(minutes=envint("SIGN_IN_COOLOFF_MINUTES", 15))
SIGN_IN_FAILURES_PER_ACCOUNT = envint("SIGN_IN_FAILURES_PER_ACCOUNT", 20)
PASSWORD_RESETS_PER_HOUR = envint("PASSWORD_RESETS_PER_HOUR", 3)
# How many proxies (load balancers) in front of the app set X-Forwarded-For; 0 = none,
# use the connection's address.
TRUSTED_PROXY_COUNT = envint("TRUSTED_PROXY_COUNT", 0)
AXES_HANDLER = "diary.people.signin.SignInHandler"
AXES_FAILURE_LIMIT = SIGN_IN_FAILURES_PER_ADDRESS
AXES_COOLOFF_TIME = SIGN_IN_COOLOFF
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_RESET_ON_SUCCESS = True
# A locked-out attempt is refused without counting: the lock ends 15 minutes after the
# fifth failure, however often she tries meanwhile.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "diary.people.signin.lockout_response"
AXES_CLIENT_IP_CALLABLE = "diary.people.signin.client_ip"
AXES_VERBOSE = False

# Security headers; all on in production (DEBUG off), overridable from the environment.
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", str(not DEBUG))
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", str(not DEBUG))
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", str(not DEBUG))
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", str(not DEBUG))
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", str(not DEBUG))
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# /healthz is probed over plain HTTP by load balancers.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Only the app's own scripts, styles, fonts and images run: no inline script or style
# (a script an attacker slips into a note cannot run), no plugins, no framing. Bootstrap
# draws its form icons from data: URIs.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "manifest-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# The diary needs none of the browser's powerful features.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
    )
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.getenv("LOG_LEVEL", "INFO")},
    # django-axes logs every failed sign-in at INFO; lockouts are warnings. WeasyPrint
    # and fontTools narrate every PDF at INFO.
    "loggers": {
        "axes": {"level": "WARNING"},
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

# Locally (DEBUG) WhiteNoise serves static files straight from the finders, without
# collectstatic; in production from STATIC_ROOT with hashed, compressed names.
WHITENOISE_AUTOREFRESH = DEBUG
WHITENOISE_USE_FINDERS = DEBUG
