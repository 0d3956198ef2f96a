from django.urls import path

from whoami.views import WhoAmI

urlpatterns = [
    path("api/whoami/", WhoAmI.as_view()),
]
