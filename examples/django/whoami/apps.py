from django.apps import AppConfig


class WhoamiConfig(AppConfig):
    name = "whoami"
    default_auto_field = "django.db.models.AutoField"
