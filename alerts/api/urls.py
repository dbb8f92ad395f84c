from rest_framework.routers import DefaultRouter

from alerts.api.views import (
    AlertRuleViewSet,
    AlertViewSet,
    ContactPointViewSet,
    NotificationViewSet,
    SilenceViewSet,
)

router = DefaultRouter()
router.trailing_slash = "/?"  # paths without a trailing slash, as the other APIs
router.include_root_view = False
router.register("alert-rules", AlertRuleViewSet, basename="alert-rule")
router.register("alerts", AlertViewSet, basename="alert")
router.register("alert-silences", SilenceViewSet, basename="alert-silence")
router.register("contact-points", ContactPointViewSet, basename="contact-point")
router.register("alert-notifications", NotificationViewSet, basename="alert-notification")

urlpatterns = router.urls
