from rest_framework.response import Response
from rest_framework.views import APIView


class WhoAmI(APIView):
    """GET /api/whoami/: the Django user the access token maps to.

    Authentication and the IsAuthenticated permission come from
    REST_FRAMEWORK's defaults (settings.py)."""

    def get(self, request):
        claims = request.auth
        return Response({
            "pk": request.user.pk,
            "username": request.user.get_username(),
            "sub": claims["sub"],
            "client_id": claims.get("client_id", ""),
            "scope": claims.get("scope", ""),
        })
