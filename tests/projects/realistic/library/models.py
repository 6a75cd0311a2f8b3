from django.conf import settings
from django.db import models


class Shelf(models.Model):
    name = models.CharField(max_length=50, unique=True)

    def __str__(self) -> str:
        return self.name


class Book(models.Model):
    title = models.CharField(max_length=200)
    shelf = models.ForeignKey(Shelf, on_delete=models.PROTECT, null=True)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    slug = models.SlugField(max_length=200, default="")
    isbn = models.CharField(max_length=13, null=True)  # noqa: DJ001
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="reviews"
    )

    def __str__(self) -> str:
        return self.title


class Loan(models.Model):
    book = models.ForeignKey(Book, on_delete=models.CASCADE)
    borrower = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    returned = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.book} to {self.borrower}"
