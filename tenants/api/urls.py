from dbtools.api_router import router
from tenants.api.views import TenantViewSet

api = router()
api.register("tenants", TenantViewSet, basename="tenant")

urlpatterns = api.urls
