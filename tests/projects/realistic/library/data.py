"""Data steps of the library migrations (importable, so squashed migrations can refer to them)."""

import functools

from django.utils.text import slugify


def fill_slugs(apps, schema_editor, separator="-"):
    Book = apps.get_model("library", "Book")
    for book in Book.objects.filter(slug=""):
        book.slug = slugify(book.title).replace("-", separator)
        book.save(update_fields=["slug"])


def clear_slugs(apps, schema_editor):
    apps.get_model("library", "Book").objects.update(slug="")


#: A data step with an argument bound: a callable without ``__qualname__``.
fill_slugs_with_dashes = functools.partial(fill_slugs, separator="-")


class SeedShelves:
    """A callable object as a data step."""

    names = ("fiction", "history")

    def __call__(self, apps, schema_editor):
        Shelf = apps.get_model("library", "Shelf")
        for name in self.names:
            Shelf.objects.create(name=name)


seed_shelves = SeedShelves()
