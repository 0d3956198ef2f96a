#!/usr/bin/env bash
# Installs what examples/django needs, from Debian's packages, when
# /usr/bin/python3 lacks it: Django, Django REST Framework, PyJWT and
# cryptography (which gives PyJWT RS256 and EdDSA). cmd/authd's
# TestDjangoExample runs the example against authd with them and skips,
# saying why, without them.
set -euo pipefail

if /usr/bin/python3 -c 'import django, rest_framework, jwt, cryptography' >/dev/null 2>&1; then
  echo "django-deps: already installed"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq python3-django python3-djangorestframework python3-jwt python3-cryptography >/dev/null
/usr/bin/python3 -c 'import django, rest_framework, jwt; print("django-deps: Django", django.get_version(), "DRF", rest_framework.VERSION, "PyJWT", jwt.__version__)'
