from django.urls import path

from tenants import views

urlpatterns = [
    path("tenant/select", views.select_tenant, name="select-tenant"),
    path("users/", views.users, name="users"),
    path("users/add", views.add_user, name="users-add"),
    path("users/<int:member_id>/role", views.change_role, name="users-role"),
    path("users/<int:member_id>/remove", views.remove_user, name="users-remove"),
]
