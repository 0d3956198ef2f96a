#!/usr/bin/python3
"""Generate drf_messages.json: the error responses of a Django REST
Framework API, as the real Django and DRF write them.

    /usr/bin/python3 gen_drf_messages.py > drf_messages.json

Needs Debian's python3-django (3.2) and python3-djangorestframework (3.14).

Every entry is produced by running the real code: DRF serializers and
fields, Django's username validator, password validators and
SetPasswordForm, and DRF views called through APIRequestFactory, whose
responses go through DRF's own exception handler and JSONRenderer. The
output maps a stable name to

    {"status": 400, "body": {...}, "raw": "<the exact bytes DRF sent>",
     "headers": {...}}

where headers holds only WWW-Authenticate, Retry-After and, on a 405,
Allow, when DRF sends them.

Two projects that the Django-era API mimicked are not packaged and so not
run here; their few own strings are copied below, each with the file it
comes from:

* django-rest-auth 0.9.5 (github.com/Tivix/django-rest-auth, tag 0.9.5),
  whose serializers raise them through DRF as shown;
* djangorestframework-jwt 1.11.0 (github.com/jpadilla/django-rest-framework-jwt,
  tag 1.11.0), whose authentication class raises them as DRF's
  AuthenticationFailed and names its WWW-Authenticate challenge.

The serializers below rebuild django-rest-auth's RegisterSerializer,
LoginSerializer, PasswordChangeSerializer (without and with the old
password), PasswordResetConfirmSerializer and VerifyEmailSerializer from
those DRF and Django parts, with django-allauth's defaults (username required, email optional),
so the shapes (which key, a list or not, non_field_errors) are DRF's own.
"""
import json
import sys

import django
from django.conf import settings

settings.configure(
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    INSTALLED_APPS=[
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "rest_framework",
    ],
    # Django's four default password validators, as `startproject` writes
    # them, with the minimum length at 8 (its default).
    AUTH_PASSWORD_VALIDATORS=[
        {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
        {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
        {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
        {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    ],
    USE_I18N=True,
    LANGUAGE_CODE="en-us",
    USE_TZ=True,
    SECRET_KEY="generation-only",
    ROOT_URLCONF=__name__,
    REST_FRAMEWORK={
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
        # DRF's default parsers: JSON, form and multipart bodies.
    },
)
django.setup()

from django.contrib.auth import authenticate, get_user_model  # noqa: E402
from django.contrib.auth.forms import SetPasswordForm  # noqa: E402
from django.contrib.auth.password_validation import validate_password  # noqa: E402
from django.contrib.auth.tokens import default_token_generator  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.http import Http404  # noqa: E402
from django.utils.http import urlsafe_base64_decode  # noqa: E402
from django.utils.translation import gettext as _  # noqa: E402
from rest_framework import exceptions, permissions, serializers, throttling  # noqa: E402
from rest_framework.authentication import BaseAuthentication  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.test import APIRequestFactory  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

urlpatterns = []

call_command("migrate", verbosity=0)
User = get_user_model()
User.objects.create_user("alice", "alice@example.com", "alice-Wonderland-1")

# django-rest-auth 0.9.5, rest_auth/registration/serializers.py,
# RegisterSerializer.validate and .validate_email.
REST_AUTH_PASSWORD_MISMATCH = "The two password fields didn't match."
REST_AUTH_EMAIL_TAKEN = "A user is already registered with this e-mail address."
# django-rest-auth 0.9.5, rest_auth/serializers.py, LoginSerializer.validate.
# (Its "User account is disabled." is never seen with Django's
# ModelBackend, which refuses inactive users before it: they get this.)
REST_AUTH_BAD_LOGIN = "Unable to log in with provided credentials."
# The same, LoginSerializer._validate_username (allauth's default
# AUTHENTICATION_METHOD, username), for a missing or blank username.
REST_AUTH_MUST_INCLUDE = 'Must include "username" and "password".'
# The same, PasswordChangeSerializer.validate_old_password
# (OLD_PASSWORD_FIELD_ENABLED = True), with no full stop.
REST_AUTH_INVALID_PASSWORD = "Invalid password"
# The same, PasswordResetConfirmSerializer.validate, on "uid" or "token".
REST_AUTH_INVALID_VALUE = "Invalid value"
# djangorestframework-jwt 1.11.0, rest_framework_jwt/authentication.py,
# BaseJSONWebTokenAuthentication.authenticate and
# JSONWebTokenAuthentication.authenticate_header (JWT_AUTH_HEADER_PREFIX
# "JWT", www_authenticate_realm "api").
JWT_EXPIRED = "Signature has expired."
JWT_DECODE_ERROR = "Error decoding signature."
JWT_CHALLENGE = 'JWT realm="api"'
# The same, JSONWebTokenAuthentication.get_jwt_value.
JWT_NO_CREDENTIALS = "Invalid Authorization header. No credentials provided."
JWT_SPACES = "Invalid Authorization header. Credentials string should not contain spaces."
# djangorestframework-jwt 1.11.0, rest_framework_jwt/serializers.py,
# RefreshJSONWebTokenSerializer.validate.
JWT_REFRESH_EXPIRED = "Refresh has expired."

username_field = User._meta.get_field("username")


class RegisterSerializer(serializers.Serializer):
    """django-rest-auth's RegisterSerializer, with django-allauth's
    adapter checks done by the Django parts they call."""

    username = serializers.CharField(max_length=username_field.max_length, min_length=1, required=True)
    email = serializers.EmailField(required=False)
    password1 = serializers.CharField(write_only=True)
    password2 = serializers.CharField(write_only=True)

    def validate_username(self, username):
        # allauth's clean_username: the model field's validators (Django's
        # UnicodeUsernameValidator), then uniqueness with the field's own
        # "unique" message.
        username_field.run_validators(username)
        if User.objects.filter(username__iexact=username).exists():
            raise serializers.ValidationError(username_field.error_messages["unique"])
        return username

    def validate_email(self, email):
        if email and User.objects.filter(email__iexact=email).exists():
            raise serializers.ValidationError(REST_AUTH_EMAIL_TAKEN)
        return email

    def validate_password1(self, password):
        # allauth's clean_password: Django's validators, without a user.
        validate_password(password)
        return password

    def validate(self, data):
        if data["password1"] != data["password2"]:
            raise serializers.ValidationError(REST_AUTH_PASSWORD_MISMATCH)
        return data


class LoginSerializer(serializers.Serializer):
    """django-rest-auth's LoginSerializer (username login)."""

    username = serializers.CharField(required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    password = serializers.CharField(style={"input_type": "password"})

    def validate(self, attrs):
        if not attrs.get("username"):
            raise exceptions.ValidationError(REST_AUTH_MUST_INCLUDE)
        user = authenticate(username=attrs.get("username"), password=attrs["password"])
        if user is None:
            raise exceptions.ValidationError(REST_AUTH_BAD_LOGIN)
        return attrs


class PasswordChangeSerializer(serializers.Serializer):
    """django-rest-auth's PasswordChangeSerializer: Django's
    SetPasswordForm, whose errors DRF returns as they are."""

    new_password1 = serializers.CharField(max_length=128)
    new_password2 = serializers.CharField(max_length=128)

    def validate(self, attrs):
        form = SetPasswordForm(user=self.context["user"], data=attrs)
        if not form.is_valid():
            raise serializers.ValidationError(form.errors)
        return attrs


class PasswordChangeWithOldSerializer(PasswordChangeSerializer):
    """django-rest-auth's PasswordChangeSerializer with
    OLD_PASSWORD_FIELD_ENABLED = True: the old password is a field of its
    own, checked before the new ones."""

    old_password = serializers.CharField(max_length=128)

    def validate_old_password(self, value):
        if not self.context["user"].check_password(value):
            raise serializers.ValidationError(REST_AUTH_INVALID_PASSWORD)
        return value


class PasswordResetConfirmSerializer(serializers.Serializer):
    """django-rest-auth's PasswordResetConfirmSerializer: the uid, then
    Django's SetPasswordForm, then the token."""

    new_password1 = serializers.CharField(max_length=128)
    new_password2 = serializers.CharField(max_length=128)
    uid = serializers.CharField()
    token = serializers.CharField()

    def validate(self, attrs):
        try:
            user = User.objects.get(pk=urlsafe_base64_decode(attrs["uid"]).decode())
        except (TypeError, ValueError, OverflowError, User.DoesNotExist):
            raise exceptions.ValidationError({"uid": [REST_AUTH_INVALID_VALUE]})
        form = SetPasswordForm(user=user, data=attrs)
        if not form.is_valid():
            raise serializers.ValidationError(form.errors)
        if not default_token_generator.check_token(user, attrs["token"]):
            raise exceptions.ValidationError({"token": [REST_AUTH_INVALID_VALUE]})
        return attrs


class VerifyEmailSerializer(serializers.Serializer):
    """django-rest-auth's VerifyEmailSerializer."""

    key = serializers.CharField()


class JWTAuthentication(BaseAuthentication):
    """What djangorestframework-jwt's JSONWebTokenAuthentication does at
    the edges: no header, no user; a bad token, AuthenticationFailed; and
    its challenge makes DRF answer 401 rather than 403."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        auth = header.split()
        if len(auth) == 1:
            raise exceptions.AuthenticationFailed(_(JWT_NO_CREDENTIALS))
        if len(auth) > 2:
            raise exceptions.AuthenticationFailed(_(JWT_SPACES))
        token = auth[1]
        if token == "expired":
            raise exceptions.AuthenticationFailed(_(JWT_EXPIRED))
        if token == "garbage":
            raise exceptions.AuthenticationFailed(_(JWT_DECODE_ERROR))
        if token == "default":
            raise exceptions.AuthenticationFailed()
        if token == "alice":
            return (User.objects.get(username="alice"), None)
        raise exceptions.AuthenticationFailed(_(JWT_DECODE_ERROR))

    def authenticate_header(self, request):
        return JWT_CHALLENGE


class FixedThrottle(throttling.BaseThrottle):
    """Refuses every request, asking the client to wait wait seconds."""

    wait_seconds = 0

    def allow_request(self, request, view):
        return False

    def wait(self):
        return self.wait_seconds


def throttle(seconds):
    return type("Throttle", (FixedThrottle,), {"wait_seconds": seconds})


class SerializerView(APIView):
    """POST runs serializer_class; GET is not allowed."""

    serializer_class = None
    authentication_classes = []
    permission_classes = []

    def post(self, request):
        s = self.serializer_class(data=request.data, context={"user": User.objects.get(username="alice")})
        s.is_valid(raise_exception=True)
        return Response({"ok": True})


class ProtectedView(APIView):
    authentication_classes = [JWTAuthentication]
    permission_classes = [permissions.IsAuthenticated]

    def get(self, request):
        return Response({"pk": request.user.pk})


class ForbiddenView(ProtectedView):
    permission_classes = [permissions.IsAdminUser]


class MissingView(ProtectedView):
    permission_classes = []

    def get(self, request):
        raise Http404("no such thing")


class UserDetailsView(ProtectedView):
    """The methods of django-rest-auth's UserDetailsView
    (RetrieveUpdateAPIView): GET, PUT, PATCH, and HEAD through GET."""

    def put(self, request):
        return Response({})

    def patch(self, request):
        return Response({})


class LogoutView(APIView):
    """django-rest-auth's LogoutView: GET is refused unless
    ACCOUNT_LOGOUT_ON_GET, after DRF has listed it as allowed."""

    authentication_classes = []
    permission_classes = []

    def get(self, request):
        return self.http_method_not_allowed(request)

    def post(self, request):
        return Response({})


class VerifyEmailView(APIView):
    """django-rest-auth's VerifyEmailView: an unknown key is Http404."""

    authentication_classes = []
    permission_classes = []
    allowed_methods = ("POST", "OPTIONS", "HEAD")

    def get(self, request):
        raise exceptions.MethodNotAllowed("GET")

    def post(self, request):
        s = VerifyEmailSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        raise Http404("no such key")


factory = APIRequestFactory()
out = {}


def record(name, view, request):
    """Run request through view, DRF's exception handler and renderer."""
    resp = view.as_view()(request)
    resp.render()
    entry = {
        "status": resp.status_code,
        "body": json.loads(resp.content),
        "raw": resp.content.decode("utf-8"),
    }
    wanted = ["WWW-Authenticate", "Retry-After"]
    if resp.status_code == 405:
        wanted.append("Allow")
    headers = {h: resp[h] for h in wanted if resp.has_header(h)}
    if headers:
        entry["headers"] = headers
    if name in out:
        sys.exit("duplicate name " + name)
    out[name] = entry


def post(view, data, **kw):
    return factory.post("/", data, format="json", **kw)


def view_for(serializer):
    return type(serializer.__name__ + "View", (SerializerView,), {"serializer_class": serializer})


Register = view_for(RegisterSerializer)
Login = view_for(LoginSerializer)
Change = view_for(PasswordChangeSerializer)
ChangeWithOld = view_for(PasswordChangeWithOldSerializer)
ResetConfirm = view_for(PasswordResetConfirmSerializer)
good = {"username": "newbie", "email": "newbie@example.com", "password1": "Str0ng-enough!", "password2": "Str0ng-enough!"}

# Field errors: {"field": ["message", ...]}, 400.
record("required", Register, post(Register, {}))
record("blank", Register, post(Register, dict(good, username="")))
record("username_max_length", Register, post(Register, dict(good, username="a" * 151)))
record("username_invalid", Register, post(Register, dict(good, username="bad name!")))
record("username_taken", Register, post(Register, dict(good, username="alice")))
record("email_invalid", Register, post(Register, dict(good, email="not-an-email")))
record("email_taken", Register, post(Register, dict(good, email="ALICE@example.com")))
record("password_too_short", Register, post(Register, dict(good, password1="Ab1!x", password2="Ab1!x")))
record("password_too_common", Register, post(Register, dict(good, password1="password", password2="password")))
record("password_entirely_numeric", Register, post(Register, dict(good, password1="73829104561", password2="73829104561")))
# Several validators at once: one list, in the order of the settings.
record("password_several", Register, post(Register, dict(good, password1="1234", password2="1234")))
# Similarity needs the user, which registration does not pass; a password
# change does (SetPasswordForm): its errors land on new_password2.
record("password_too_similar", Change, post(Change, {"new_password1": "Alice1234", "new_password2": "Alice1234"}))
# The validator names the attribute: this password is close to alice's
# email address, not to her username, which it checks first.
record("password_too_similar_email", Change, post(Change, {"new_password1": "alice@example.com", "new_password2": "alice@example.com"}))
# The same mismatch, worded twice: django-rest-auth's registration (a
# straight apostrophe, non_field_errors) and Django's SetPasswordForm (a
# typographic one, on new_password2).
record("password_mismatch", Register, post(Register, dict(good, password2="Str0ng-enough?")))
record("password_change_mismatch", Change, post(Change, {"new_password1": "Str0ng-enough!", "new_password2": "Str0ng-enough?"}))
record("login_failed", Login, post(Login, {"username": "alice", "password": "wrong"}))
record("login_required", Login, post(Login, {"username": "alice"}))
record("login_must_include", Login, post(Login, {"username": "", "password": "x"}))

# What DRF's CharField refuses besides a missing or blank value: null, a
# value that is not a string, NUL and lone surrogates; and the
# max_length=128 of django-rest-auth's password fields.
record("null", Register, post(Register, dict(good, username=None)))
record("not_a_string", Register, post(Register, dict(good, username=["newbie"])))
record("null_characters", Register, post(Register, dict(good, username="new\x00bie")))
record("surrogate_characters", Register, factory.post(
    "/", '{"username": "\\ud800", "password1": "Str0ng-enough!", "password2": "Str0ng-enough!"}',
    content_type="application/json"))
record("password_max_length", Change, post(Change, {"new_password1": "x" * 129, "new_password2": "x" * 129}))
# A body that is not a JSON object.
record("not_a_dictionary", Register, factory.post("/", "[]", content_type="application/json"))
record("no_data", Register, factory.post("/", "null", content_type="application/json"))

# A password change with the old password required (the old password is a
# field, checked before the new ones) and a reset confirmation.
record("old_password_required", ChangeWithOld, post(ChangeWithOld, {"new_password1": "Str0ng-enough!", "new_password2": "Str0ng-enough!"}))
record("old_password_invalid", ChangeWithOld, post(ChangeWithOld, {"old_password": "wrong", "new_password1": "Str0ng-enough!", "new_password2": "Str0ng-enough?"}))
record("reset_uid_invalid", ResetConfirm, post(ResetConfirm, {"uid": "!!", "token": "x", "new_password1": "Str0ng-enough!", "new_password2": "Str0ng-enough!"}))
record("reset_token_invalid", ResetConfirm, post(ResetConfirm, {"uid": "MQ", "token": "x", "new_password1": "Str0ng-enough!", "new_password2": "Str0ng-enough!"}))
record("verify_email_not_found", VerifyEmailView, post(VerifyEmailView, {"key": "nope"}))

# {"detail": "..."} bodies.
record("not_authenticated", ProtectedView, factory.get("/"))
record("authentication_failed", ProtectedView, factory.get("/", HTTP_AUTHORIZATION="JWT default"))
record("jwt_signature_expired", ProtectedView, factory.get("/", HTTP_AUTHORIZATION="JWT expired"))
record("jwt_decode_error", ProtectedView, factory.get("/", HTTP_AUTHORIZATION="JWT garbage"))
record("permission_denied", ForbiddenView, factory.get("/", HTTP_AUTHORIZATION="JWT alice"))
record("not_found", MissingView, factory.get("/", HTTP_AUTHORIZATION="JWT alice"))
record("method_not_allowed", Register, factory.get("/"))
# The Allow header lists the view's own methods.
record("user_method_not_allowed", UserDetailsView, factory.delete("/", HTTP_AUTHORIZATION="JWT alice"))
record("logout_method_not_allowed", LogoutView, factory.get("/"))
record("verify_email_method_not_allowed", VerifyEmailView, factory.get("/"))
record("jwt_no_credentials", ProtectedView, factory.get("/", HTTP_AUTHORIZATION="JWT"))
record("jwt_credentials_spaces", ProtectedView, factory.get("/", HTTP_AUTHORIZATION="JWT a b"))
record("unsupported_media_type", Register, factory.post("/", "username=x", content_type="text/plain"))
record("multipart_no_boundary", Register, factory.post("/", "username=x", content_type="multipart/form-data"))
record("json_parse_error", Register, factory.post("/", '{"username": ', content_type="application/json"))
# A wait is rounded up to whole seconds; 0 sends no Retry-After, and a
# throttle that cannot tell (wait None) leaves the second sentence out.
for seconds, name in ((None, "throttled_unknown"), (0, "throttled_0"), (0.2, "throttled_1"), (42, "throttled_42")):
    view = type("Throttled", (SerializerView,), {
        "serializer_class": RegisterSerializer, "throttle_classes": [throttle(seconds)]})
    record(name, view, post(view, good))

# Bodies the generator cannot make DRF write for lack of the project, with
# their source above: the refresh-expired message of the JWT refresh view
# (a ValidationError raised in validate: non_field_errors, 400).


class RefreshSerializer(serializers.Serializer):
    token = serializers.CharField()

    def validate(self, attrs):
        raise serializers.ValidationError(_(JWT_REFRESH_EXPIRED))


record("jwt_refresh_expired", view_for(RefreshSerializer), post(None, {"token": "x"}))

json.dump(dict(sorted(out.items())), sys.stdout, ensure_ascii=False, indent=2)
sys.stdout.write("\n")
