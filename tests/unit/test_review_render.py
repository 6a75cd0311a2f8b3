"""What the admin review pages render on the server: the statement timeline of a validation run
(SVG) and the bundle's Markdown documents (HTML). No database.

The SVG is read back with an XML parser, as a browser would: the tests look at the bars, their
lock, colour and width, not at the exact text.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from migration_studio.bundle.documents import render_readme, rollback_plan
from migration_studio.review.markdown import render_markdown, safe_url
from migration_studio.review.timeline import (
    LOCK_MODES,
    MIN_BAR_WIDTH,
    PALETTE,
    lock_strength,
    strongest,
    timeline_svg,
)
from migration_studio.risk.analysis import analyse

from .builders import bundle, facts, field, stats
from .builders import op as rule_op
from .test_documents import full_bundle, full_report

SVG = "{http://www.w3.org/2000/svg}"
RED, ORANGE, YELLOW, GREEN, GREY = (colour.fill for colour in PALETTE)


def statement(
    seconds: float = 0.1,
    *locks: tuple[str, str],
    sql: str = 'ALTER TABLE "shop_order" ADD COLUMN "note" text;',
    operation: int | None = 1,
) -> dict[str, Any]:
    """A statement as validation.json has it; ``locks``: (table, mode) pairs."""
    return {
        "sql": sql,
        "seconds": seconds,
        "operation": operation,
        "locks": [{"relation": table, "mode": mode} for table, mode in locks],
    }


def step(name: str = "up", *statements: dict[str, Any], status: str = "passed") -> dict[str, Any]:
    return {
        "name": name,
        "status": status,
        "seconds": sum(s["seconds"] for s in statements),
        "detail": "",
        "statements": list(statements),
    }


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def bars(svg: str) -> list[ET.Element]:
    return [rect for rect in parse(svg).iter(f"{SVG}rect") if rect.get("class") == "ms-bar"]


def lanes(svg: str) -> list[ET.Element]:
    return [g for g in parse(svg).iter(f"{SVG}g") if "ms-lane" in g.get("class", "").split()]


def tooltip(bar: ET.Element) -> str:
    title = bar.find(f"{SVG}title")
    assert title is not None and title.text
    return title.text


def width(bar: ET.Element) -> float:
    return float(bar.get("width", "nan"))


# -- lock strength -----------------------------------------------------------------------------


def test_lock_strength_follows_postgresql_conflict_order() -> None:
    strengths = [lock_strength(mode) for mode in LOCK_MODES]
    assert strengths == sorted(strengths) and len(set(strengths)) == 8
    assert lock_strength("AccessExclusive") > lock_strength("Exclusive") > lock_strength("Share")
    # pg_locks and documentation spellings too; no lock or another kind of lock: 0.
    assert lock_strength("AccessExclusiveLock") == lock_strength("ACCESS EXCLUSIVE") == 8
    assert lock_strength(None) == lock_strength("") == lock_strength("SIRead") == 0


def test_strongest_lock_of_a_statement() -> None:
    locks = [
        {"relation": "shop_item", "mode": "RowExclusive"},
        {"relation": "shop_order", "mode": "AccessExclusive"},
        {"relation": "shop_order_pkey", "mode": "AccessShare"},
    ]
    assert strongest(locks) == {"relation": "shop_order", "mode": "AccessExclusive"}
    assert strongest([]) is None
    assert strongest(None) is None


# -- the timeline ------------------------------------------------------------------------------


def test_one_bar_per_statement_with_its_strongest_lock_and_colour() -> None:
    svg = timeline_svg(
        [
            step(
                "up",
                statement(0.1, ("shop_item", "RowExclusive"), ("shop_order", "AccessExclusive")),
                statement(0.1, ("shop_order", "ShareRowExclusive")),
                statement(0.1, ("shop_order", "ShareUpdateExclusive")),
                statement(0.1, ("shop_order", "RowShare")),
                statement(0.1),
            )
        ]
    )
    assert [(bar.get("data-lock"), bar.get("fill")) for bar in bars(svg)] == [
        ("AccessExclusive", RED),
        ("ShareRowExclusive", ORANGE),
        ("ShareUpdateExclusive", YELLOW),
        ("RowShare", GREEN),
        ("none", GREY),
    ]
    assert len({RED, ORANGE, YELLOW, GREEN, GREY}) == 5


@pytest.mark.parametrize(
    ("mode", "fill"),
    [
        ("AccessExclusive", RED),
        ("Exclusive", ORANGE),
        ("ShareRowExclusive", ORANGE),
        ("Share", ORANGE),
        ("ShareUpdateExclusive", YELLOW),
        ("RowExclusive", GREEN),
        ("RowShare", GREEN),
        ("AccessShare", GREEN),
    ],
)
def test_each_lock_mode_has_the_colour_of_its_strength(mode, fill) -> None:
    [bar] = bars(timeline_svg([step("up", statement(0.1, ("shop_order", mode)))]))
    assert (bar.get("data-lock"), bar.get("fill")) == (mode, fill)


def test_bar_widths_are_proportional_to_durations_on_the_steps_time_axis() -> None:
    fast, slow, fastest = bars(
        timeline_svg([step("up", statement(0.01), statement(0.1), statement(0.005))])
    )
    assert width(slow) / width(fast) == pytest.approx(10, rel=0.01)
    assert width(fast) / width(fastest) == pytest.approx(2, rel=0.01)
    # One after another from the step's start.
    assert float(slow.get("x", "nan")) == pytest.approx(float(fast.get("x", "nan")) + width(fast))
    assert float(fastest.get("x", "nan")) == pytest.approx(
        float(slow.get("x", "nan")) + width(slow)
    )


def test_a_statement_too_short_to_see_still_gets_a_visible_bar() -> None:
    long, short = bars(timeline_svg([step("up", statement(30), statement(0.000_001))]))
    assert width(short) == MIN_BAR_WIDTH
    assert width(long) > 100 * width(short)


def test_each_step_has_its_own_time_axis() -> None:
    """A 10 ms down step is not squeezed next to a 10 s up step."""
    up, down = bars(timeline_svg([step("up", statement(10)), step("down", statement(0.01))]))
    assert width(up) == pytest.approx(width(down))


def test_tooltip_says_how_long_which_lock_on_which_table_which_operation_and_the_sql() -> None:
    sql = "ALTER TABLE shop_order ADD COLUMN note text DEFAULT '" + "x" * 300 + "';"
    locks = (("shop_order", "AccessExclusive"), ("shop_item", "RowExclusive"))
    [bar] = bars(timeline_svg([step("up", statement(0.12, *locks, sql=sql, operation=3))]))
    text = tooltip(bar)
    assert "120.0 ms" in text
    assert "AccessExclusive on shop_order; RowExclusive on shop_item" in text
    assert "operation 4" in text  # operation 3 counted from 0 in the files, from 1 on pages
    assert sql[:200] in text and sql[:201] not in text


def test_a_long_bar_names_its_lock_and_table_on_itself() -> None:
    svg = timeline_svg(
        [step("up", statement(2.5, ("shop_order", "AccessExclusive")), statement(0.001))]
    )
    labels = [
        text.text for text in parse(svg).iter(f"{SVG}text") if text.get("class") == "ms-bar-label"
    ]
    assert labels == ["AccessExclusive on shop_order · 2.50 s"]


def test_the_figure_says_which_statement_holds_access_exclusive_longest() -> None:
    svg = timeline_svg(
        [
            step(
                "up",
                statement(0.2, ("shop_item", "AccessExclusive"), operation=1),
                statement(1.5, ("shop_order", "AccessExclusive"), operation=2),
                statement(3.0, ("shop_order", "Share"), operation=3),
            )
        ]
    )
    label = parse(svg).get("aria-label", "")
    assert parse(svg).get("role") == "img"
    assert "longest AccessExclusive: 1.50 s on shop_order (up, operation 2)" in label


def test_sql_and_table_names_are_escaped() -> None:
    sql = "SELECT '</title><script>alert(1)</script>';"
    svg = timeline_svg(
        [step("up<script>", statement(0.1, ('x"><script>alert(2)</script>', "Share"), sql=sql))]
    )
    assert "<script" not in svg
    [bar] = bars(svg)  # still well-formed: parsed back, the text is what was given
    assert sql in tooltip(bar)
    assert 'Share on x"><script>alert(2)</script>' in tooltip(bar)
    assert lanes(svg)[0].get("data-step") == "up<script>"


def test_a_lane_per_step_with_statements_and_the_failed_step_marked() -> None:
    svg = timeline_svg(
        [
            step("up", statement(0.1), statement(0.2)),
            step("checks"),  # nothing to draw
            step("down", statement(0.1), status="failed"),
            step("redeploy", statement(0.3)),
        ]
    )
    assert [(lane.get("data-step"), lane.get("data-status")) for lane in lanes(svg)] == [
        ("up", "passed"),
        ("down", "failed"),
        ("redeploy", "passed"),
    ]
    assert [lane.get("class") for lane in lanes(svg)] == [
        "ms-lane",
        "ms-lane ms-lane-failed",
        "ms-lane",
    ]
    assert "failed: down" in parse(svg).get("aria-label", "")


def test_a_step_that_failed_before_any_statement_finished_gets_a_lane_saying_so() -> None:
    failed = step("down", status="failed") | {"detail": "This statement failed: DROP <x>"}
    svg = timeline_svg([step("up", statement(0.1)), failed])
    [_, down] = lanes(svg)
    assert down.get("data-status") == "failed"
    assert "No statement completed: This statement failed: DROP <x>" in "".join(down.itertext())


def test_height_grows_with_the_number_of_lanes() -> None:
    one = parse(timeline_svg([step("up", statement())]))
    three = parse(timeline_svg([step(name, statement()) for name in ("up", "down", "redeploy")]))
    height = {svg: float(svg.get("viewBox", "").split()[3]) for svg in (one, three)}
    assert one.get("viewBox", "").startswith("0 0 900 ")
    assert height[three] > height[one] + 100


def test_the_legend_shows_the_colours_used_strongest_first() -> None:
    svg = timeline_svg(
        [step("up", statement(0.1), statement(0.1, ("shop_order", "AccessExclusive")))]
    )
    swatches = [
        rect.get("fill")
        for rect in parse(svg).iter(f"{SVG}rect")
        if rect.get("class") == "ms-legend-swatch"
    ]
    assert swatches == [RED, GREY]


def test_the_legend_of_all_colours_fits_in_the_figure() -> None:
    modes = ["RowShare", None, "AccessExclusive", "ShareUpdateExclusive", "Share"]
    svg = timeline_svg([step("up", *(statement(0.1, *([("t", m)] if m else [])) for m in modes))])
    legend = next(g for g in parse(svg).iter(f"{SVG}g") if g.get("class") == "ms-legend")
    swatches = [rect.get("fill") for rect in legend.iter(f"{SVG}rect")]
    assert swatches == [RED, ORANGE, YELLOW, GREEN, GREY]
    last = list(legend.iter(f"{SVG}text"))[-1]
    assert last.text == "no lock"
    assert float(last.get("x", "nan")) + 7 * 6.2 < 900


@pytest.mark.parametrize(
    ("seconds", "ticks"),
    [
        (0.5, ["0 ms", "100 ms", "200 ms", "300 ms", "400 ms", "500 ms"]),
        (4.0, ["0 s", "0.5 s", "1 s", "1.5 s"]),
        (0.002, ["0 ms", "0.5 ms", "1 ms", "1.5 ms", "2 ms"]),
    ],
)
def test_axis_ticks_are_labelled_in_ms_below_a_second_and_in_s_from_it(seconds, ticks) -> None:
    svg = timeline_svg([step("up", statement(seconds))])
    axis = next(g for g in parse(svg).iter(f"{SVG}g") if g.get("class") == "ms-axis")
    labels = [text.text for text in axis.iter(f"{SVG}text")]
    assert labels[: len(ticks)] == ticks
    assert 5 <= len(labels) <= 11


@pytest.mark.parametrize(
    "steps",
    [
        [],
        [step("up"), step("down")],
        [{"name": "up", "status": "passed", "statements": []}],
    ],
)
def test_nothing_to_draw_renders_nothing(steps) -> None:
    assert timeline_svg(steps) == ""


def test_a_large_run_renders_in_a_few_milliseconds() -> None:
    """50 operations of 4 statements each, in 3 steps."""
    sql = 'ALTER TABLE "shop_order" ADD COLUMN "note" varchar(200) DEFAULT \'<b>\' NOT NULL;'
    modes = ["AccessExclusive", "ShareRowExclusive", "RowExclusive", None]
    steps = [
        step(
            name,
            *(
                statement(
                    0.001 * (1 + n % 7),
                    *([("shop_order", mode)] if (mode := modes[n % 4]) else []),
                    sql=sql,
                    operation=n // 4 + 1,
                )
                for n in range(200)
            ),
        )
        for name in ("up", "down", "redeploy")
    ]
    assert len(bars(timeline_svg(steps))) == 600
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        timeline_svg(steps)
        best = min(best, time.perf_counter() - started)
    assert best < 0.05  # about 6 ms on a small machine; 50 ms leaves room for a busy one


# -- Markdown ----------------------------------------------------------------------------------


def test_raw_html_comes_out_as_text() -> None:
    html = render_markdown(
        "# Hi <b>there</b>\n\n<script>alert(1)</script>\n\n- <img src=x onerror=y>"
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<h1>Hi &lt;b&gt;there&lt;/b&gt;</h1>" in html
    assert "<li>&lt;img src=x onerror=y&gt;</li>" in html
    assert "<script" not in html and "<img" not in html and "<b>" not in html


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert%281%29",
        "JavaScript:alert%281%29",
        "java\x01script:alert%281%29",
        "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox",
        "mailto:someone@example.com",
    ],
)
def test_links_with_other_schemes_stay_text(url) -> None:
    html = render_markdown(f"[click me]({url})")
    assert "<a" not in html
    assert "[click me](" in html
    assert not safe_url(url)


@pytest.mark.parametrize(
    ("url", "href"),
    [
        ("https://docs.example.com/rules.html#ms131", "https://docs.example.com/rules.html#ms131"),
        ("http://example.com/?a=1&b=2", "http://example.com/?a=1&amp;b=2"),
        ("HTTPS://EXAMPLE.COM/", "HTTPS://EXAMPLE.COM/"),
        ("#findings", "#findings"),
        ("rollback-plan.md", "rollback-plan.md"),
        ("../docs/rules.html#ms101", "../docs/rules.html#ms101"),
    ],
)
def test_links_to_http_anchors_and_relative_addresses(url, href) -> None:
    assert render_markdown(f"See [the **rule**]({url}).") == (
        f'<p>See <a href="{href}">the <strong>rule</strong></a>.</p>'
    )


def test_a_bare_address_becomes_a_link_without_its_final_period() -> None:
    html = render_markdown("- Rule MS131: https://docs.example.com/rules.html#ms131_x.")
    assert (
        '<a href="https://docs.example.com/rules.html#ms131_x">'
        "https://docs.example.com/rules.html#ms131_x</a>.</li>"
    ) in html


def test_headings_paragraphs_and_rules() -> None:
    html = render_markdown("# One\n## Two\n### Three\n#### Four ####\n\nA line\nand more.\n\n---\n")
    assert html == (
        "<h1>One</h1>\n<h2>Two</h2>\n<h3>Three</h3>\n<h4>Four</h4>\n<p>A line\nand more.</p>\n<hr>"
    )
    assert render_markdown("#hashtag") == "<p>#hashtag</p>"


def test_bold_italic_and_inline_code() -> None:
    html = render_markdown("**bold**, *it*, _it_, `a <b> **not bold**` and \\*not it\\*")
    assert html == (
        "<p><strong>bold</strong>, <em>it</em>, <em>it</em>, "
        "<code>a &lt;b&gt; **not bold**</code> and *not it*</p>"
    )
    assert render_markdown("`` a`b ``") == "<p><code>a`b</code></p>"


def test_snake_case_names_are_not_italicised() -> None:
    text = "Drops shop_order_item_id and _private_ names; db_default=... on shop_order."
    html = render_markdown(text)
    assert "shop_order_item_id" in html and "db_default=" in html and "shop_order." in html
    assert html.count("<em>") == 1 and "<em>private</em>" in html


def test_lists_bulleted_and_numbered() -> None:
    html = render_markdown("- one\n- two\n  continued\n\n1. first\n2. second\n\n3. third\n")
    assert html == (
        "<ul>\n<li>one</li>\n<li>two\ncontinued</li>\n</ul>\n"
        "<ol>\n<li>first</li>\n<li>second</li>\n<li>third</li>\n</ol>"
    )
    assert render_markdown("4. four\n5. five").startswith('<ol start="4">\n<li>four</li>')
    # A nested list renders flat, in the same list.
    assert render_markdown("- a\n  - b\n- c") == "<ul>\n<li>a</li>\n<li>b</li>\n<li>c</li>\n</ul>"


def test_fenced_code_is_escaped_and_not_interpreted() -> None:
    html = render_markdown(
        "```sql\nDELETE FROM t WHERE a < 1 AND b = '**x**';\n<script>\n```\nafter"
    )
    assert html == (
        '<pre><code class="language-sql">DELETE FROM t WHERE a &lt; 1 AND b = '
        "&#x27;**x**&#x27;;\n&lt;script&gt;\n</code></pre>\n<p>after</p>"
    )
    assert render_markdown("```\nplain\n```") == "<pre><code>plain\n</code></pre>"
    assert 'class="language-' not in render_markdown('```"><script>\nx\n```')


def test_pipe_tables_with_escaped_pipes_alignment_and_escaped_cells() -> None:
    html = render_markdown(
        "| table | lock | rows |\n| --- | :-: | ---: |\n"
        "| a \\| b | <i>x</i> | 3 |\n| `c\\|d` | **AccessExclusive** |\n"
    )
    assert html == (
        "<table>\n<thead>\n"
        '<tr><th>table</th><th style="text-align: center">lock</th>'
        '<th style="text-align: right">rows</th></tr>\n'
        "</thead>\n<tbody>\n"
        '<tr><td>a | b</td><td style="text-align: center">&lt;i&gt;x&lt;/i&gt;</td>'
        '<td style="text-align: right">3</td></tr>\n'
        '<tr><td><code>c|d</code></td><td style="text-align: center">'
        '<strong>AccessExclusive</strong></td><td style="text-align: right"></td></tr>\n'
        "</tbody>\n</table>"
    )


def test_the_readme_a_bundle_has_renders_with_its_tables_links_and_code() -> None:
    html = render_markdown(render_readme(full_bundle(), full_report()))
    assert html.startswith("<h1>library.0003_change</h1>\n<h2>Overview</h2>\n<ul>\n")
    assert html.count("<table>") == 1
    assert (
        "<tr><th>severity</th><th>rule</th><th>op</th><th>what happens</th><th>size</th>"
        "<th>effects</th></tr>"
    ) in html
    assert (
        '<td><a href="https://docs.example.com/rules.html#ms131">MS131</a> '
        "Index built without CONCURRENTLY blocks writes</td>"
    ) in html
    assert "<td>Builds index a | b on library_book holding SHARE.</td>" in html
    assert "<h4>1. medium: MS131 Index built without CONCURRENTLY blocks writes</h4>" in html
    assert "<pre><code>psql -v ON_ERROR_STOP=1 -d COPY_OF_DB -f up.sql\n" in html
    assert '<pre><code class="language-sql">DELETE FROM django_migrations' in html
    assert "|" not in html.replace("a | b", "")  # every table row became a <tr>


def test_the_readme_lock_table_renders_as_a_table() -> None:
    migration = bundle(
        rule_op(
            "AddField",
            ['ALTER TABLE "shop_order" ADD COLUMN "note" text NULL;'],
            facts=facts("shop_order", field_after=field("note", "text", null=True)),
        ),
    )
    html = render_markdown(render_readme(migration, analyse(migration, stats(shop_order=10))))
    assert (
        "<tr><th>table</th><th>strongest lock</th><th>from op</th><th>reads wait</th>"
        "<th>writes wait</th></tr>"
    ) in html
    assert "<tr><td>shop_order</td><td>ACCESS EXCLUSIVE</td><td>1</td>" in html


def test_the_rollback_plan_renders() -> None:
    html = render_markdown(rollback_plan(full_bundle(), full_report()))
    assert html.startswith("<h1>Rollback plan: library.0003_change</h1>\n")
    assert "<h2>What a rollback cannot bring back</h2>\n<ul>\n<li>" in html
    assert "<li><strong>MS156</strong> (medium): Rolling back drops column" in html


def test_a_lock_on_an_index_does_not_colour_the_bar_when_the_table_has_one() -> None:
    """CREATE INDEX holds ACCESS EXCLUSIVE on its new index, which blocks no one; the table's
    SHARE lock is what writers wait for."""
    index_build = {
        "sql": 'CREATE INDEX "i" ON "t" ("c");',
        "seconds": 0.5,
        "operation": 0,
        "locks": [
            {"relation": "i", "mode": "AccessExclusive", "kind": "index"},
            {"relation": "t", "mode": "Share", "kind": "table"},
        ],
    }
    svg = timeline_svg([{"name": "up", "status": "passed", "statements": [index_build]}])
    assert re.findall(r'class="ms-bar" data-lock="(\w+)"', svg) == ["Share"]


def test_steps_whose_locks_were_not_recorded_do_not_claim_no_lock() -> None:
    run = [
        {"name": "up", "status": "passed", "statements": [{"sql": "SELECT 1", "seconds": 0.1}]},
        {"name": "down", "status": "passed", "statements": [{"sql": "SELECT 2", "seconds": 0.1}]},
    ]
    svg = timeline_svg(run, locks_recorded={"up"})
    assert re.findall(r'class="ms-bar" data-lock="(\w+)"', svg) == ["none", "unknown"]
    assert svg.split('data-step="down"')[1].count("locks not recorded") == 1
    assert "locks not recorded" not in svg.split('data-step="down"')[0]
    legend = svg.split('class="ms-legend"')[1]
    assert ">no lock</text>" in legend and ">not recorded</text>" in legend
    nothing_recorded = timeline_svg(run, locks_recorded=set())
    legend = nothing_recorded.split('class="ms-legend"')[1]
    assert ">no lock</text>" not in legend and ">not recorded</text>" in legend
