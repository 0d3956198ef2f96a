"""Django REST Framework authentication with authd access tokens, checked
offline against authd's published keys.

    REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": ["authd_auth.AuthdAccessTokenAuthentication"],
    }
    AUTHD = {"ISSUER": "https://auth.example.com", "AUDIENCE": ["api"]}

A request carries "Authorization: Bearer <token>" (or "JWT <token>", what
front ends written for djangorestframework-jwt send). The token must be an
authd access token (RFC 9068):

* its JWS header names a key ("kid") of authd's JWKS,
  {ISSUER}/.well-known/jwks.json, and an algorithm of a fixed list
  (RS256, EdDSA) that is that key's own; "typ" is "at+jwt";
* its signature verifies with that key;
* "iss" is ISSUER, "aud" holds one of AUDIENCE, "exp" is not past and
  "iat" not ahead, give or take LEEWAY seconds;
* it is a user's token: "sub" is an authd user id ("u_…") and "sid" names
  the user's session (a client_credentials token has neither).

ID tokens ("typ" JWT, "aud" the client) are refused, and so is anything
whose signature does not verify. The JWKS is fetched once and cached for
its Cache-Control max-age (at most JWKS_MAX_AGE seconds); a token naming a
kid the cache lacks makes it fetch the JWKS again, at most once every
JWKS_MIN_REFETCH seconds, so keys rotated by authd are picked up at once
without letting unknown kids flood authd with fetches.

The token's user becomes a Django user, kept in step by the token:

* with an integer "user_id" claim (the pk that `authd users import` keeps
  from Django's auth_user.id), the Django user of that pk, created if
  missing;
* without one, the Django user linked to the token's "sub" by an
  whoami.AuthdAccount row, created (with an unusable password) on first
  sight.

Either way the sub is linked to the user, and a "username" or
"preferred_username" claim, when the token has one, renames the Django
user to it. A new user without such a claim is named after the sub.
request.auth is the token's claims.

Offline checking cannot see what authd decided after signing: a token that
was revoked (logout) or whose user was disabled stays valid here until it
expires, which authd's short access-token lifetime (tokens.access_ttl,
15 minutes by default) bounds.
"""
import json
import logging
import threading
import time
import urllib.error
import urllib.request

import jwt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

log = logging.getLogger("authd_auth")

# The algorithms authd signs with. Fixed: the token's header may only pick
# among them, and must name its key's own.
ALGORITHMS = ("RS256", "EdDSA")
# RFC 9068 §4: "at+jwt", or the full media type.
ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")
USER_ID_PREFIX = "u_"

DEFAULTS = {
    "ISSUER": "http://127.0.0.1:8080",
    "AUDIENCE": ["api"],
    "LEEWAY": 10,
    "JWKS_MAX_AGE": 300,
    "JWKS_MIN_REFETCH": 5,
    "JWKS_TIMEOUT": 5,
    "HEADER_PREFIXES": ["Bearer", "JWT"],
    "REALM": "api",
}


def conf(name):
    return getattr(settings, "AUTHD", {}).get(name, DEFAULTS[name])


class KeysUnavailable(exceptions.APIException):
    """authd's JWKS could not be fetched and none is cached: the token can
    be neither accepted nor refused, so the client should retry."""

    status_code = 503
    default_detail = "The token signing keys are unavailable; try again later."
    default_code = "keys_unavailable"


class JWKS:
    """authd's published keys, fetched on demand and cached."""

    def __init__(self, url, max_age, min_refetch, timeout):
        self.url = url
        self.max_age = max_age
        self.min_refetch = min_refetch
        self.timeout = timeout
        self.fetches = 0
        self._keys = None  # kid -> (alg, key)
        self._fresh_until = 0.0
        self._last_fetch = float("-inf")
        self._lock = threading.Lock()

    def key(self, kid):
        """Return (alg, public key) for kid, or None when authd does not
        publish it."""
        with self._lock:
            now = time.monotonic()
            if self._keys is None or now >= self._fresh_until:
                self._refresh(now)
            found = self._keys.get(kid)
            if found is None and now - self._last_fetch >= self.min_refetch:
                # Perhaps a key newer than the cache: ask again, once.
                self._refresh(now)
                found = self._keys.get(kid)
            return found

    def _refresh(self, now):
        self._last_fetch = now
        try:
            keys, max_age = self._fetch()
        except (OSError, ValueError) as e:
            if self._keys is None:
                log.error("authd JWKS %s: %s", self.url, e)
                raise KeysUnavailable()
            # Keep the keys we have rather than refuse every token.
            log.warning("authd JWKS %s: %s; keeping the cached keys", self.url, e)
            self._fresh_until = now + self.min_refetch
            return
        log.info("authd JWKS %s: %d key(s): %s", self.url, len(keys), ", ".join(sorted(keys)))
        self._keys = keys
        self._fresh_until = now + max_age

    def _fetch(self):
        req = urllib.request.Request(self.url, headers={"Accept": "application/json"})
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            body = resp.read(1 << 20)
            cache_control = resp.headers.get("Cache-Control", "")
        self.fetches += 1
        doc = json.loads(body)
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
            raise ValueError("not a JWKS")
        keys = {}
        for jwk in doc["keys"]:
            if not isinstance(jwk, dict):
                continue
            kid, alg = jwk.get("kid"), jwk.get("alg")
            if not isinstance(kid, str) or alg not in ALGORITHMS or jwk.get("use", "sig") != "sig":
                continue
            try:
                keys[kid] = (alg, jwt.PyJWK(jwk, algorithm=alg).key)
            except (jwt.PyJWTError, ValueError, TypeError) as e:
                log.warning("authd JWKS: skipping key %s: %s", kid, e)
        return keys, min(self.max_age, max_age(cache_control, self.max_age))


def max_age(cache_control, default):
    """The max-age of a Cache-Control header, or default."""
    for part in cache_control.split(","):
        name, _, value = part.strip().partition("=")
        if name.lower() == "max-age":
            try:
                return max(0, int(value))
            except ValueError:
                break
    return default


_jwks = None
_jwks_lock = threading.Lock()


def get_jwks():
    """The process's JWKS cache for the configured issuer."""
    global _jwks
    url = conf("ISSUER").rstrip("/") + "/.well-known/jwks.json"
    with _jwks_lock:
        if _jwks is None or _jwks.url != url:
            _jwks = JWKS(url, conf("JWKS_MAX_AGE"), conf("JWKS_MIN_REFETCH"), conf("JWKS_TIMEOUT"))
        return _jwks


def decode_access_token(token):
    """Check an authd access token and return its claims, or raise
    AuthenticationFailed."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise exceptions.AuthenticationFailed("Malformed token.")
    alg, kid, typ = header.get("alg"), header.get("kid"), header.get("typ")
    if alg not in ALGORITHMS:
        raise exceptions.AuthenticationFailed("Token algorithm not accepted.")
    if not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES:
        # An ID token ("JWT") or anything else that is not an access token.
        raise exceptions.AuthenticationFailed("Not an access token.")
    if not isinstance(kid, str):
        raise exceptions.AuthenticationFailed("Token names no key.")
    found = get_jwks().key(kid)
    if found is None:
        raise exceptions.AuthenticationFailed("Token signed by an unknown key.")
    key_alg, key = found
    if key_alg != alg:
        raise exceptions.AuthenticationFailed("Token algorithm not accepted.")
    try:
        claims = jwt.decode(
            token,
            key=key,
            algorithms=[alg],
            issuer=conf("ISSUER"),
            audience=list(conf("AUDIENCE")),
            leeway=conf("LEEWAY"),
            options={"require": ["iss", "sub", "aud", "exp", "iat"]},
        )
    except jwt.ExpiredSignatureError:
        raise exceptions.AuthenticationFailed("Token has expired.")
    except (jwt.PyJWTError, ValueError, TypeError):
        raise exceptions.AuthenticationFailed("Invalid token.")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.startswith(USER_ID_PREFIX) or not claims.get("sid"):
        raise exceptions.AuthenticationFailed("Not a user's token.")
    user_id = claims.get("user_id")
    if user_id is not None and (type(user_id) is not int or user_id < 1):
        raise exceptions.AuthenticationFailed("Invalid token.")
    return claims


def user_for_claims(claims):
    """The Django user of a checked token, created or updated to match."""
    try:
        return _user_for_claims(claims)
    except IntegrityError:
        # Another request made the same user or link meanwhile: look again.
        try:
            return _user_for_claims(claims)
        except IntegrityError as e:
            log.warning("authd user %s: %s", claims.get("sub"), e)
            raise exceptions.AuthenticationFailed("This user cannot be mapped to a local account.")


def _user_for_claims(claims):
    from whoami.models import AuthdAccount

    User = get_user_model()
    sub = claims["sub"]
    user_id = claims.get("user_id")
    username = claims.get("username") or claims.get("preferred_username")
    if not isinstance(username, str):
        username = None
    with transaction.atomic():
        link = AuthdAccount.objects.select_related("user").filter(sub=sub).first()
        if user_id is not None:
            if link is not None and link.user_id != user_id:
                log.warning("authd user %s is linked to pk %s but the token says %s", sub, link.user_id, user_id)
                raise exceptions.AuthenticationFailed("This user cannot be mapped to a local account.")
            user = User.objects.filter(pk=user_id).first()
            if user is None:
                user = User(pk=user_id, username=username or sub)
                user.set_unusable_password()
                user.save(force_insert=True)
        elif link is not None:
            user = link.user
        else:
            user = User(username=username or sub)
            user.set_unusable_password()
            user.save(force_insert=True)
        if link is None:
            AuthdAccount.objects.create(sub=sub, user=user)
        if username and user.get_username() != username:
            setattr(user, User.USERNAME_FIELD, username)
            user.save(update_fields=[User.USERNAME_FIELD])
    return user


class AuthdAccessTokenAuthentication(BaseAuthentication):
    """DRF authentication by authd access tokens (see the module)."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        prefixes = [p.lower().encode() for p in conf("HEADER_PREFIXES")]
        if not parts or parts[0].lower() not in prefixes:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid Authorization header.")
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid Authorization header.")
        claims = decode_access_token(token)
        user = user_for_claims(claims)
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return (user, claims)

    def authenticate_header(self, request):
        # Makes DRF answer 401, not 403, to a request without a token.
        return 'Bearer realm="%s"' % conf("REALM")
