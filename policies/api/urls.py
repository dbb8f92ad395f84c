from django.urls import path
from rest_framework.routers import DefaultRouter

from policies.api.views import GroupPoliciesView, PolicyViewSet

router = DefaultRouter()
router.trailing_slash = "/?"  # paths without a trailing slash, as the other APIs
router.include_root_view = False
router.register("policies", PolicyViewSet, basename="policy")

urlpatterns = [
    path("groups/<int:pk>/policies", GroupPoliciesView.as_view(), name="api-group-policies"),
    *router.urls,
]
