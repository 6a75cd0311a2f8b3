"""Management commands the corpus runner uses inside the corpus project (no models)."""
