from django.urls import path
from rest_framework.routers import DefaultRouter

from policies.api.views import (
    FleetComplianceView,
    GroupComplianceView,
    GroupPoliciesView,
    PolicyViewSet,
    ServerComplianceView,
)

router = DefaultRouter()
router.trailing_slash = "/?"  # paths without a trailing slash, as the other APIs
router.include_root_view = False
router.register("policies", PolicyViewSet, basename="policy")

urlpatterns = [
    path("groups/<int:pk>/policies", GroupPoliciesView.as_view(), name="api-group-policies"),
    path("groups/<int:pk>/compliance", GroupComplianceView.as_view(), name="api-group-compliance"),
    path(
        "servers/<int:pk>/compliance",
        ServerComplianceView.as_view(),
        name="api-server-compliance",
    ),
    path("compliance/summary", FleetComplianceView.as_view(), name="api-compliance-summary"),
    *router.urls,
]
