"""No views: the corpus project only runs migration commands."""

urlpatterns: list = []
