"""Editing a model's source (``makesafemigration --safe`` renames): the one keyword or Meta option
added where it belongs, whatever the layout, and refused where the definition is not certain."""

from __future__ import annotations

import ast

import pytest

from migration_studio.exceptions import SourceEditError
from migration_studio.rewrites.source import add_db_column, add_db_table, line_of, write


def column(text: str, class_name: str = "Customer", name: str = "name") -> tuple[str, int]:
    return add_db_column(text, class_name, name, "old")


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (
            "class Customer:\n    name = models.CharField(max_length=200)\n",
            'class Customer:\n    name = models.CharField(max_length=200, db_column="old")\n',
        ),
        (
            "class Customer:\n    name = models.TextField()\n",
            'class Customer:\n    name = models.TextField(db_column="old")\n',
        ),
        (
            "class Customer:\n    name = models.IntegerField(default=1,)\n",
            'class Customer:\n    name = models.IntegerField(default=1, db_column="old",)\n',
        ),
        (
            # One argument a line with a trailing comma: a line of its own, the comment kept.
            "class Customer:\n"
            "    name = models.CharField(\n"
            "        max_length=200,  # long enough\n"
            "    )\n",
            "class Customer:\n"
            "    name = models.CharField(\n"
            "        max_length=200,  # long enough\n"
            '        db_column="old",\n'
            "    )\n",
        ),
        (
            "class Customer:\n"
            "    name = ForeignKey(\n"
            "        Account,\n"
            "        on_delete=models.CASCADE\n"
            "    )\n",
            "class Customer:\n"
            "    name = ForeignKey(\n"
            "        Account,\n"
            '        on_delete=models.CASCADE, db_column="old"\n'
            "    )\n",
        ),
        (
            "class Customer:\n    name = models.CharField('Prénom, nom', max_length=2)\n",
            "class Customer:\n"
            "    name = models.CharField('Prénom, nom', max_length=2, db_column=\"old\")\n",
        ),
        (
            # The last argument in parentheses: db_column goes after them, not into a tuple.
            "class Customer:\n    name = models.CharField(max_length=(200))\n",
            'class Customer:\n    name = models.CharField(max_length=(200), db_column="old")\n',
        ),
        (
            "class Customer:\n"
            "    name = models.CharField(\n"
            "        default=(\n"
            '            "a"\n'
            "        ),\n"
            "    )\n",
            "class Customer:\n"
            "    name = models.CharField(\n"
            "        default=(\n"
            '            "a"\n'
            "        ),\n"
            '        db_column="old",\n'
            "    )\n",
        ),
    ],
    ids=[
        "arguments",
        "no arguments",
        "trailing comma",
        "multi-line",
        "no trailing comma",
        "utf-8",
        "parenthesised",
        "parenthesised on lines",
    ],
)
def test_db_column_is_added_to_the_field_call(before: str, after: str) -> None:
    edited, line = column(before)
    assert edited == after
    assert line == line_of(edited, "Customer", "name")
    ast.parse(edited)


def test_only_the_field_of_the_class_named_is_edited() -> None:
    text = (
        "class Supplier(models.Model):\n"
        "    name = models.CharField(max_length=10)\n\n\n"
        "class Customer(models.Model):\n"
        "    code = models.CharField(db_column='ref')\n"
        "    name = models.CharField(max_length=20)\n"
    )
    edited, line = column(text)
    assert edited.splitlines()[1] == "    name = models.CharField(max_length=10)"
    assert edited.splitlines()[6] == '    name = models.CharField(max_length=20, db_column="old")'
    assert line == 7 == line_of(edited, "Customer", "name")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "class Named(models.Model):\n    name = models.CharField()\n\n"
            "class Customer(Named):\n    pass\n",
            "name is not assigned in the body of Customer (inherited",
        ),
        ("class Customer:\n    name = name_field()\n", "is not defined by a call of a field class"),
        ("class Customer:\n    name = NAME\n", "is not defined by a call of a field class"),
        (
            "class Customer:\n    name = models.CharField(db_column='x')\n",
            "already sets db_column",
        ),
        ("class Customer:\n    name = models.CharField(**OPTIONS)\n", "with **kwargs"),
        (
            "class Customer:\n    name = models.CharField()\n    name = models.TextField()\n",
            "assigned more than once",
        ),
        (
            "class Customer:\n    name = models.CharField()\n\nclass Customer:\n    pass\n",
            "defines the class Customer 2 times",
        ),
        ("class Other:\n    name = models.CharField()\n", "defines the class Customer 0 times"),
    ],
)
def test_a_definition_that_is_not_certain_is_not_edited(text: str, reason: str) -> None:
    with pytest.raises(SourceEditError, match=reason.replace("*", r"\*").replace("(", r"\(")):
        column(text)


def test_db_table_is_added_to_the_meta() -> None:
    text = (
        "class Customer(models.Model):\n"
        "    name = models.CharField()\n\n"
        "    class Meta:\n"
        '        ordering = ["name"]\n\n'
        "    def __str__(self):\n"
        "        return self.name\n"
    )
    edited, line = add_db_table(text, "Customer", "shop_client")
    assert edited == text.replace(
        '        ordering = ["name"]\n',
        '        ordering = ["name"]\n        db_table = "shop_client"\n',
    )
    assert line == 6 == line_of(edited, "Customer")


def test_a_meta_is_made_after_the_fields_before_the_methods() -> None:
    text = (
        "class Customer(models.Model):\n"
        "    name = models.CharField()\n\n"
        "    @property\n"
        "    def label(self):\n"
        "        return self.name\n"
    )
    edited, line = add_db_table(text, "Customer", "shop_client")
    assert edited == (
        "class Customer(models.Model):\n"
        "    name = models.CharField()\n\n"
        "    class Meta:\n"
        '        db_table = "shop_client"\n\n'
        "    @property\n"
        "    def label(self):\n"
        "        return self.name\n"
    )
    assert line == 5


def test_a_meta_is_made_at_the_end_of_a_class_of_fields_only_or_first_in_one_of_methods() -> None:
    edited, line = add_db_table("class A(Model):\n    x = IntegerField()\n", "A", "t")
    assert (
        edited
        == 'class A(Model):\n    x = IntegerField()\n\n    class Meta:\n        db_table = "t"\n'
    )
    assert line == 5
    edited, line = add_db_table("class A(Model):\n    def f(self):\n        pass\n", "A", "t")
    assert edited == (
        "class A(Model):\n"
        "    class Meta:\n"
        '        db_table = "t"\n\n'
        "    def f(self):\n"
        "        pass\n"
    )
    assert line == 3


def test_a_meta_setting_db_table_already_is_not_edited() -> None:
    text = "class A(Model):\n    class Meta:\n        db_table = 'x'\n"
    with pytest.raises(SourceEditError, match="already sets db_table"):
        add_db_table(text, "A", "t")


def test_a_file_edited_meanwhile_is_not_written(tmp_path) -> None:
    path = tmp_path / "models.py"
    path.write_text("changed")
    with pytest.raises(SourceEditError, match="changed while"):
        write(path, "before", "after")
    assert path.read_text() == "changed"
    write(path, "changed", "after")
    assert path.read_text() == "after"
