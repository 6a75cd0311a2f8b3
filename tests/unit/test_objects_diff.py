"""Objects besides tables compared without a server (validation/objects.py ``compare_objects``)."""

from __future__ import annotations

from migration_studio.validation.objects import compare_objects

FUNCTION = (
    "CREATE OR REPLACE FUNCTION public.touch()\n RETURNS trigger\nAS $function$\n{body}\n$function$"
)


def test_the_same_objects_do_not_differ() -> None:
    objects = {"function touch()": FUNCTION.format(body="RETURN NEW;"), "type status": "enum ('a')"}
    assert compare_objects(objects, dict(objects)) == []


def test_missing_left_behind_and_changed_objects_are_one_line_each() -> None:
    before = {
        "function touch()": FUNCTION.format(body="NEW.n := 1;"),
        "trigger touch on job": "CREATE TRIGGER touch ...",
    }
    after = {
        "function touch()": FUNCTION.format(body="NEW.n := 2;"),
        "type status": "enum ('a', 'b')",
    }

    assert compare_objects(before, after) == [
        "~ function touch(): definition 'NEW.n := 1;' -> 'NEW.n := 2;'",
        "- trigger touch on job (missing)",
        "+ type status (left behind)",
    ]
