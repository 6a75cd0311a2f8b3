"""URLs of the test suite: the admin, where the review pages live."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
