from rest_framework.routers import DefaultRouter

from scheduler.api.views import JobViewSet

router = DefaultRouter()
router.trailing_slash = "/?"  # paths without a trailing slash, as the other APIs
router.include_root_view = False
router.register("jobs", JobViewSet, basename="job")

urlpatterns = router.urls
