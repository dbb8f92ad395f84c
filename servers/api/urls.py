from dbtools.api_router import router
from servers.api.views import GroupViewSet, LabelViewSet, ServerViewSet

api = router()
api.register("servers", ServerViewSet, basename="server")
api.register("groups", GroupViewSet, basename="group")
api.register("labels", LabelViewSet, basename="label")

urlpatterns = api.urls
