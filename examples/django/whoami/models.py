from django.conf import settings
from django.db import models


class AuthdAccount(models.Model):
    """Links an authd user (the sub of its tokens, "u_…") to a Django user."""

    sub = models.CharField(max_length=64, unique=True)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="authd_account")

    def __str__(self):
        return "%s -> %s" % (self.sub, self.user_id)
