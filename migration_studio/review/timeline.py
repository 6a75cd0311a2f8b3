"""The statements of a validation run on a time axis, as one server-rendered SVG.

Input is the ``steps`` of a validation (``validation.json`` or ``ValidationRun.steps``): per step
its statements, each with its duration and the table locks it took (PostgreSQL's lock modes
without the ``Lock`` suffix; none on SQLite). Each step with statements gets a lane; each statement
a bar as wide as it took, coloured by the strongest lock it took, with a tooltip (duration, locks,
operation, SQL), so a reviewer sees which statement holds ACCESS EXCLUSIVE, and for how long.

Everything taken from the input is escaped: bundle SQL is user content.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from django.utils.safestring import mark_safe

__all__ = ["LOCK_MODES", "lock_strength", "strongest", "timeline_svg"]

#: PostgreSQL's table lock modes (``pg_locks.mode`` without ``Lock``), weakest first.
LOCK_MODES = (
    "AccessShare",
    "RowShare",
    "RowExclusive",
    "ShareUpdateExclusive",
    "Share",
    "ShareRowExclusive",
    "Exclusive",
    "AccessExclusive",
)
_STRENGTH = {mode.lower(): number for number, mode in enumerate(LOCK_MODES, start=1)}
#: The spellings the validation writes, looked up first (a run has hundreds of statements).
_EXACT = {mode: number for number, mode in enumerate(LOCK_MODES, start=1)}


@dataclass(frozen=True)
class _Colour:
    """One colour of the palette: the locks at least ``strength`` strong (up to the next)."""

    strength: int
    fill: str
    text: str
    legend: str


#: Strongest first; the last one is for statements without a (known) lock.
PALETTE = (
    _Colour(8, "#d7301f", "#ffffff", "AccessExclusive"),
    _Colour(5, "#f28e2b", "#1a1a1a", "Exclusive, ShareRowExclusive, Share"),
    _Colour(4, "#f2cf3b", "#1a1a1a", "ShareUpdateExclusive"),
    _Colour(1, "#8cc084", "#1a1a1a", "RowExclusive, RowShare, AccessShare"),
    _Colour(0, "#b8b8b8", "#1a1a1a", "no lock"),
)

_BY_STRENGTH = [
    next(c for c in PALETTE if strength >= c.strength) for strength in range(len(LOCK_MODES) + 1)
]

WIDTH = 900
PLOT_X = 150  # the lanes' labels are left of it
PLOT_WIDTH = 730
TOP = 8
LANE_HEIGHT = 74
BAR_Y = 14  # from the lane's top
BAR_HEIGHT = 24
AXIS_Y = 44
LEGEND_HEIGHT = 30
MIN_BAR_WIDTH = 2.0
#: In the set of legend entries used: a bar of a step whose locks were not recorded.
UNKNOWN = -1
CHAR_WIDTH = 6.2  # of the 11px font, roughly: how much text fits in a bar
SQL_IN_TOOLTIP = 200


def lock_strength(mode: str | None) -> int:
    """1 (AccessShare) to 8 (AccessExclusive); 0 for no lock or a mode that is not a table lock.

    Accepts ``pg_locks`` spellings too (``AccessExclusiveLock``, ``ACCESS EXCLUSIVE``)."""
    if mode in _EXACT:
        return _EXACT[mode]
    key = "".join(str(mode or "").split()).lower()
    key = key.removesuffix("lock")
    return _STRENGTH.get(key, 0)


def strongest(locks: Iterable[Mapping[str, Any]] | None) -> dict[str, Any] | None:
    """The strongest of ``locks`` (``{"relation": ..., "mode": ...}``, the first one on a tie);
    None when there are none."""
    best: Mapping[str, Any] | None = None
    for lock in locks or ():
        if isinstance(lock, Mapping) and (
            best is None or lock_strength(lock.get("mode")) > lock_strength(best.get("mode"))
        ):
            best = lock
    return dict(best) if best is not None else None


def colour(mode: str | None) -> _Colour:
    """The palette colour of a statement whose strongest lock is ``mode``."""
    return _BY_STRENGTH[lock_strength(mode)]


def timeline_svg(
    steps: Sequence[Mapping[str, Any]], locks_recorded: Collection[str] | None = None
) -> str:
    """The statements of ``steps`` as an SVG, one lane per step; "" when no step has one.

    ``locks_recorded`` names the steps whose statements' locks were recorded (None: all); the
    other lanes say their locks are unknown rather than showing "no lock".
    """
    lanes = [lane for lane in (_Lane.of(number, step) for number, step in enumerate(steps)) if lane]
    for lane in lanes:
        lane.locks_known = locks_recorded is None or lane.name in locks_recorded
    if not any(lane.statements for lane in lanes):
        return ""
    height = TOP + LANE_HEIGHT * len(lanes) + LEGEND_HEIGHT
    used: set[int] = set()  # the palette's strengths
    parts = [
        f'<svg class="ms-timeline" role="img" aria-label="{escape(_summary(lanes))}" '
        f'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" '
        f'font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="11">'
    ]
    for index, lane in enumerate(lanes):
        lane.render(parts, TOP + index * LANE_HEIGHT, used)
    _legend(parts, TOP + len(lanes) * LANE_HEIGHT + 8, used)
    parts.append("</svg>")
    # Safe: every value from the input was escaped where it was interpolated.
    return mark_safe("".join(parts))


@dataclass(slots=True)
class _Statement:
    sql: str
    seconds: float
    operation: Any
    locks: list[Mapping[str, Any]]
    #: Of the strongest lock ("" without one) and its strength.
    mode: str
    strength: int

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> _Statement:
        locks = [lock for lock in data.get("locks") or () if isinstance(lock, Mapping)]
        # A lock on a relation the statement creates or on an index (CREATE INDEX holds ACCESS
        # EXCLUSIVE on its new index) blocks no one's queries: the colour is the table's lock.
        on_tables = [lock for lock in locks if lock.get("kind", "table") == "table"] or locks
        lock = strongest(on_tables) if len(on_tables) != 1 else on_tables[0]
        mode = str(lock.get("mode") or "") if lock else ""
        return cls(
            sql=str(data.get("sql") or ""),
            seconds=_seconds(data.get("seconds")),
            operation=data.get("operation"),
            locks=locks,
            mode=mode,
            strength=lock_strength(mode),
        )

    def tables(self, mode: str) -> list[str]:
        """The tables locked in ``mode``, each once, in order."""
        names = (
            str(lock.get("relation") or "?") for lock in self.locks if lock.get("mode") == mode
        )
        return list(dict.fromkeys(names))

    def locks_text(self) -> str:
        """Like "AccessExclusive on shop_order; RowExclusive on shop_item", strongest first."""
        if len(self.locks) == 1:
            return f"{self.mode} on {self.locks[0].get('relation') or '?'}"
        modes = sorted(
            dict.fromkeys(str(lock.get("mode") or "") for lock in self.locks),
            key=lock_strength,
            reverse=True,
        )
        return "; ".join(f"{mode} on {', '.join(self.tables(mode))}" for mode in modes) or "no lock"

    def label(self) -> str:
        """What a long bar says on itself: the strongest lock, its table, the duration."""
        if not self.mode:
            return _short_duration(self.seconds)
        tables = self.tables(self.mode)
        more = f" +{len(tables) - 1}" if len(tables) > 1 else ""
        return f"{self.mode} on {tables[0]}{more} · {_short_duration(self.seconds)}"

    def tooltip(self) -> str:
        # Operations are counted from 1 on the pages (from 0 in the files).
        number = self.operation + 1 if isinstance(self.operation, int) else self.operation
        operation = "" if number is None else f" · operation {number}"
        sql = " ".join(self.sql[: SQL_IN_TOOLTIP * 4].split())
        if len(sql) > SQL_IN_TOOLTIP:
            sql = sql[:SQL_IN_TOOLTIP] + "…"
        return f"{_ms(self.seconds)} · {self.locks_text()}{operation}\n{sql}"


@dataclass
class _Lane:
    name: str
    status: str
    detail: str
    statements: list[_Statement]
    #: Whether the locks of this step's statements were recorded.
    locks_known: bool = True

    @classmethod
    def of(cls, number: int, step: Mapping[str, Any]) -> _Lane:
        if not isinstance(step, Mapping):
            return cls(f"step {number + 1}", "", "", [])
        return cls(
            name=str(step.get("name") or f"step {number + 1}"),
            status=str(step.get("status") or ""),
            detail=str(step.get("detail") or ""),
            statements=[
                _Statement.of(s) for s in step.get("statements") or () if isinstance(s, Mapping)
            ],
        )

    def __bool__(self) -> bool:
        """Drawn when it has statements, or failed (the lane says where the run stopped)."""
        return bool(self.statements) or self.failed

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @property
    def seconds(self) -> float:
        return sum(statement.seconds for statement in self.statements)

    def render(self, parts: list[str], top: float, used: set[int]) -> None:
        status = escape(self.status)
        parts.append(
            f'<g class="ms-lane{" ms-lane-failed" if self.failed else ""}" '
            f'data-step="{escape(self.name)}" data-status="{status}">'
            f'<rect class="ms-lane-background" x="0" y="{top}" width="{WIDTH}" '
            f'height="{LANE_HEIGHT - 6}" rx="4" '
            + (
                'fill="#fdecea" stroke="#d7301f" stroke-width="1.5"/>'
                if self.failed
                else 'fill="#f6f7f9"/>'
            )
        )
        summary = f"{len(self.statements)} statement(s), {_short_duration(self.seconds)}"
        detail = f"<title>{escape(self.detail[:SQL_IN_TOOLTIP])}</title>" if self.detail else ""
        parts.append(
            f'<text class="ms-lane-label" x="10" y="{top + BAR_Y + 10}" font-weight="bold">'
            f"{detail}{escape(_clip(self.name, 20))}"
            + (' <tspan fill="#b2182b">FAILED</tspan>' if self.failed else "")
            + f'</text><text x="10" y="{top + BAR_Y + 26}" fill="#555" font-size="10">'
            f"{escape(summary)}</text>"
            + (
                ""
                if self.locks_known
                else f'<text x="10" y="{top + BAR_Y + 40}" fill="#555" font-size="10">'
                "locks not recorded</text>"
            )
        )
        if not self.statements:
            parts.append(
                f'<text x="{PLOT_X}" y="{top + BAR_Y + 16}" fill="#b2182b">'
                f"No statement completed: {escape(_clip(self.detail or self.status, 110))}</text>"
                "</g>"
            )
            return
        span = self.seconds or 0.001
        scale = PLOT_WIDTH / span
        start = 0.0
        y = top + BAR_Y
        for statement in self.statements:
            x = PLOT_X + start * scale
            width = max(statement.seconds * scale, MIN_BAR_WIDTH)
            start += statement.seconds
            paint = _BY_STRENGTH[statement.strength]
            used.add(paint.strength if self.locks_known or statement.strength else UNKNOWN)
            lock = escape(statement.mode) or ("none" if self.locks_known else "unknown")
            parts.append(
                f'<rect class="ms-bar" data-lock="{lock}" '
                f'x="{x:.2f}" y="{y}" width="{width:.2f}" height="{BAR_HEIGHT}" '
                f'fill="{paint.fill}" stroke="#ffffff" stroke-width="0.5">'
                f"<title>{escape(statement.tooltip())}</title></rect>"
            )
            fits = int((width - 6) / CHAR_WIDTH)
            if fits >= 8:
                parts.append(
                    f'<text class="ms-bar-label" x="{x + 3:.2f}" y="{y + 16}" '
                    f'fill="{paint.text}" pointer-events="none">'
                    f"{escape(_clip(statement.label(), fits))}</text>"
                )
        _axis(parts, top + AXIS_Y, span)
        parts.append("</g>")


def _axis(parts: list[str], y: float, span: float) -> None:
    """The lane's time axis: a line, ticks at round values, labels in ms (or s from 1 s on)."""
    parts.append(
        f'<g class="ms-axis" fill="#555" font-size="10">'
        f'<line x1="{PLOT_X}" y1="{y}" x2="{PLOT_X + PLOT_WIDTH}" y2="{y}" stroke="#999"/>'
    )
    for tick in _ticks(span):
        x = PLOT_X + tick / span * PLOT_WIDTH
        anchor = "start" if tick == 0 else "middle"
        parts.append(
            f'<line x1="{x:.2f}" y1="{y}" x2="{x:.2f}" y2="{y + 4}" stroke="#999"/>'
            f'<text x="{x:.2f}" y="{y + 15}" text-anchor="{anchor}">'
            f"{_tick_label(tick, span)}</text>"
        )
    parts.append("</g>")


def _ticks(span: float) -> list[float]:
    """0 and round steps (1, 2 or 5 times a power of ten) up to ``span``: about 5 to 10 ticks."""
    raw = span / 8
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(int(span / step + 1e-9) + 1)]


def _tick_label(seconds: float, span: float) -> str:
    if span >= 1:
        return f"{round(seconds, 6):g} s"
    return f"{round(seconds * 1000, 6):g} ms"


def _legend(parts: list[str], y: float, used: set[int]) -> None:
    """The colours the bars use, strongest lock first (all five fit in the width)."""
    parts.append(f'<g class="ms-legend" font-size="11"><text x="10" y="{y + 11}">Lock:</text>')
    x = 50.0
    shown = [paint for paint in PALETTE if paint.strength in used]
    if UNKNOWN in used:
        grey = _BY_STRENGTH[0]
        shown.append(_Colour(UNKNOWN, grey.fill, grey.text, "not recorded"))
    for paint in shown:
        parts.append(
            f'<rect class="ms-legend-swatch" x="{x:.0f}" y="{y + 1}" width="12" height="12" '
            f'fill="{paint.fill}"/><text x="{x + 16:.0f}" y="{y + 11}">{paint.legend}</text>'
        )
        x += 26 + len(paint.legend) * CHAR_WIDTH
    parts.append("</g>")


def _summary(lanes: list[_Lane]) -> str:
    """The figure in one sentence (its aria-label): the longest ACCESS EXCLUSIVE first."""
    count = sum(len(lane.statements) for lane in lanes)
    text = f"Statement timeline: {len(lanes)} step(s), {count} statement(s)"
    held = [
        (statement.seconds, lane, statement)
        for lane in lanes
        for statement in lane.statements
        if statement.strength == len(LOCK_MODES)
    ]
    if held:
        seconds, lane, statement = max(held, key=lambda item: item[0])
        where = "" if statement.operation is None else f", operation {statement.operation}"
        text += (
            f"; longest AccessExclusive: {_short_duration(seconds)} on "
            f"{', '.join(statement.tables(statement.mode))} ({lane.name}{where})"
        )
    else:
        text += "; no AccessExclusive lock"
    failed = [lane.name for lane in lanes if lane.failed]
    if failed:
        text += f"; failed: {', '.join(failed)}"
    return text


def _seconds(value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return 0.0
    return seconds if math.isfinite(seconds) and seconds > 0 else 0.0


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.3f} ms" if ms < 1 else f"{ms:,.1f} ms"


def _short_duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    ms = seconds * 1000
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: max(length - 1, 0)] + "…"
