"""Settings of the example: a Django 3.2 + Django REST Framework 3.14 API
whose users sign in at authd and call it with authd access tokens.

Environment:

    AUTHD_ISSUER        authd's issuer URL (its `issuer` setting), default
                        http://127.0.0.1:8080
    AUTHD_AUDIENCE      comma-separated audiences to accept (authd's
                        tokens.audience), default "api"
    AUTHD_LEEWAY        seconds of clock skew allowed on exp and iat, default 10
    EXAMPLE_DB          SQLite file of the example, default db.sqlite3 here
    DJANGO_SECRET_KEY   Django's SECRET_KEY (the example signs nothing with it)
"""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "whoami",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "exampleproject.urls"
WSGI_APPLICATION = "exampleproject.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("EXAMPLE_DB", str(BASE_DIR / "db.sqlite3")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

USE_TZ = True
TIME_ZONE = "UTC"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["authd_auth.AuthdAccessTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
}

AUTHD = {
    "ISSUER": os.environ.get("AUTHD_ISSUER", "http://127.0.0.1:8080"),
    "AUDIENCE": [a.strip() for a in os.environ.get("AUTHD_AUDIENCE", "api").split(",") if a.strip()],
    "LEEWAY": int(os.environ.get("AUTHD_LEEWAY", "10")),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"authd_auth": {"handlers": ["console"], "level": "INFO"}},
}
