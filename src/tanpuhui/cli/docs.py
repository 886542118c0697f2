"""`tanpuhui docs methodologies|events` — generated documentation, checked in CI.

`methodologies`: docs/methodologies.md from the catalogue files. One section per methodology
version: what it credits, the formula, the quality tier of its reductions and its uncertainty
deduction, every factor with value, unit, region, validity, source
and confidence (operator-set ones flagged), caps, plausibility bounds, and a worked example
computed by the engine itself.

`events`: the tables of docs/events.md — the event's fields and requiredness, the quantity keys
and the reason codes — from the wire contract's JSON Schema (`adapters.wire`, the same schema
the OpenAPI document serves) and the domain's reason codes, and the decoder's limits. The prose
around them stays hand-written; each table sits between `<!-- generated: NAME -->` and
`<!-- end generated: NAME -->` markers.

`--check` fails when the file in the repository is not what would be generated (CI runs it).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from tanpuhui.adapters import event_codec, wire
from tanpuhui.adapters.catalogue_files import (
    bundled_catalogue_dir,
    load_regions,
    read_catalogue_dir,
)
from tanpuhui.cli.common import console, err_console, handled
from tanpuhui.domain.errors import InvalidInputError
from tanpuhui.domain.events import REASON_MEANINGS, BehaviourEvent, Rejection
from tanpuhui.domain.intake import MAX_BATCH_EVENTS
from tanpuhui.domain.methodology import Catalogue, Confidence, Group, Methodology
from tanpuhui.domain.models import MODELS, quantify
from tanpuhui.domain.quantity import format_decimal
from tanpuhui.domain.regions import RegionCatalogue

cli = typer.Typer(help="Generated documentation.", no_args_is_help=True)
DEFAULT_OUT = Path("docs/methodologies.md")
EVENTS_DOC = Path("docs/events.md")
CST = timezone(timedelta(hours=8))
CATEGORY_ORDER = ("衣", "食", "住", "行", "用", "办公", "数字金融")
CATEGORY_NAMES = {
    "衣": "衣 clothing", "食": "食 food", "住": "住 home", "行": "行 mobility",
    "用": "用 consumption", "办公": "办公 office", "数字金融": "数字金融 digital finance",
}  # fmt: skip
EXAMPLE_QUANTITY = {
    "distance_km": Decimal("5"), "steps": Decimal("10000"), "kwh": Decimal("100"),
    "weight_kg": Decimal("2"), "count": Decimal("1"),
}  # fmt: skip


@cli.command("methodologies")
@handled
def methodologies(
    out: Annotated[Path, typer.Option(help="Where to write.")] = DEFAULT_OUT,
    check: Annotated[bool, typer.Option("--check", help="Fail if the file is stale.")] = False,
    catalogue_dir: Annotated[Path | None, typer.Option("--catalogue")] = None,
) -> None:
    """Write (or --check) docs/methodologies.md from the methodology files."""
    regions = load_regions()
    files = read_catalogue_dir(catalogue_dir or bundled_catalogue_dir(), regions)
    catalogue = files.catalogue()
    text = render(catalogue, regions)
    if check:
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if current != text:
            err_console.print(f"{out} is stale: run `tanpuhui docs methodologies`")
            raise typer.Exit(1)
        console.print(f"{out} is current")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    console.print(f"wrote {out}: {len(catalogue.methodologies)} methodology versions")


@cli.command("events")
@handled
def events(
    out: Annotated[Path, typer.Option(help="The file whose tables to write.")] = EVENTS_DOC,
    check: Annotated[bool, typer.Option("--check", help="Fail if the file is stale.")] = False,
) -> None:
    """Write (or --check) the generated tables of docs/events.md from the wire contract."""
    if not out.is_file():
        raise InvalidInputError(f"{out} does not exist: it holds the prose around the tables")
    current = out.read_text(encoding="utf-8")
    text = render_events(current)
    if check:
        if current != text:
            err_console.print(f"{out} is stale: run `tanpuhui docs events`")
            raise typer.Exit(1)
        console.print(f"{out} is current")
        return
    out.write_text(text, encoding="utf-8")
    console.print(f"wrote the tables of {out}")


def render_events(text: str) -> str:
    """`text` (docs/events.md) with every generated table replaced by what the contract says."""
    for name, lines in event_tables().items():
        begin, end = f"<!-- generated: {name} -->", f"<!-- end generated: {name} -->"
        head, found, rest = text.partition(begin)
        _, found_end, tail = rest.partition(end)
        if not found or not found_end:
            raise InvalidInputError(f"docs/events.md has no {begin} … {end} markers")
        text = "\n".join([head + begin, *lines, end + tail])
    return text


def event_tables() -> dict[str, list[str]]:
    schemas = wire.components()
    event, evidence = schemas["Event"], schemas["Evidence"]
    fields = ["| field | required | meaning |", "| --- | --- | --- |"]
    fields += _field_rows(event)
    fields += _field_rows(evidence, prefix="evidence.")
    quantity = next(s for s in event["properties"]["quantity"]["anyOf"] if "properties" in s)
    quantities = ["| quantity key | meaning |", "| --- | --- |"] + [
        f"| `{key}` | {spec['description']} |" for key, spec in quantity["properties"].items()
    ]
    reasons = ["| reason | when |", "| --- | --- |"] + [
        f"| `{reason.value}` | {meaning} |" for reason, meaning in REASON_MEANINGS.items()
    ]
    limits = [
        "| limit | value | beyond it |",
        "| --- | --- | --- |",
        f"| nesting of one event | {event_codec.MAX_DEPTH} levels | that event is rejected "
        "`too_deep` |",
        f"| JSON of one invalid event | {event_codec.MAX_EVENT_BYTES:,} bytes | that event is "
        "rejected `too_large` (a valid event is valid whatever its spacing) |",
        f"| nesting anywhere in a batch body | {event_codec.MAX_BODY_DEPTH} levels | the batch "
        "is refused: 422 `too_deep` |",
        f"| events in one batch | {MAX_BATCH_EVENTS:,} (or `TANPUHUI_MAX_BATCH`, if lower) | "
        "the batch is refused: 413 `batch_too_large` |",
    ]
    return {"fields": fields, "quantities": quantities, "reasons": reasons, "limits": limits}


def _field_rows(schema: dict[str, Any], prefix: str = "") -> list[str]:
    required = set(schema.get("required", ()))
    return [
        f"| `{prefix}{name}` | {'yes' if name in required else 'no'} | {spec['description']} |"
        for name, spec in schema["properties"].items()
    ]


def render(catalogue: Catalogue, regions: RegionCatalogue) -> str:
    ms = sorted(
        catalogue.methodologies,
        key=lambda m: (CATEGORY_ORDER.index(m.category), m.code, m.version),
    )
    behaviours = sorted({b for m in ms for b in m.behaviours})
    operator_set = sum(1 for m in ms for f in m.factors if f.confidence == Confidence.OPERATOR_SET)
    lines = [
        "# The methodology catalogue",
        "",
        "<!-- generated by `tanpuhui docs methodologies` from src/tanpuhui/methodologies; "
        "do not edit by hand -->",
        "",
        f"{len(ms)} methodology versions covering {len(behaviours)} behaviours in "
        f"{len({m.category for m in ms})} categories. Every credit is ER = BE − PE computed in "
        "`Decimal` and rounded **down** once to whole grams CO2e. Factor confidence: **text** "
        "read in the source, **2nd** a secondary report, **derived** arithmetic on sourced "
        "values (the derivation is stated), **operator-set** no published value — a "
        f"conservative operator choice, marked ⚠ ({operator_set} such factors). Resolution: "
        "for a behaviour on a day in a region, the in-effect version with the most specific "
        "region (county > city > province > national) applies; none → the event is rejected "
        "(`no_methodology`), never credited with a guess.",
        "",
        "**The lowest published value.** Where sources disagree, or a national default has to "
        "stand in for values published by cities, the catalogue takes the lowest published "
        "value: the conservative choice, which credits no more than any source supports. A "
        "derived value is rounded down, never up; where one source gives two readings, the "
        "lower is used and the version says which and why; a baseline assumes the "
        "least-emitting substituted mode a source supports, never an unsourced mix. A fix is a "
        "new version from its effective date, with its source; published versions never change.",
        "",
        "**Quality tier.** Every reduction carries the lowest confidence among the factors it "
        "used (text > 2nd > derived > operator-set) in its trace and as a stored attribute, so "
        "buyers, exports and aggregates can tell offset-grade grams from engagement credits. "
        "A version may declare an uncertainty deduction by confidence (a fraction taken off "
        "before the one rounding down, shown in the trace); each section below states the "
        "quality its reductions can have and its deduction.",
        "",
        "**Bounds per day of the period.** A reading that covers D days (a meter's month) may "
        "hold D × a version's bounds per day, one day only one day's; no such bound is "
        "published for household energy, so each is an operator-set parameter that says so and "
        "why (shown ⚠ with the version's plausibility). **A trip without its distance.** Where "
        "a per-trip credit is scaled by distance (`full_trip_km`), a trip reported without its "
        "distance is refused (`quantity_mismatch`), unless the version names "
        "`unknown_distance_km`: then it is credited as the shortest trip the version accepts, "
        "so leaving the distance out never earns more than reporting it (bus.luzhou@3: a "
        "QR-code tap, 5 g).",
        "",
        "## Behaviour groups and daily caps",
        "",
        "| group | exclusive (one claim at a time) | clock-skew tolerance | daily cap per person | "
        "cap source |",
        "| --- | --- | --- | --- | --- |",
    ]
    for g in sorted(catalogue.groups.values(), key=lambda g: g.code):
        merged = " (merged per day)" if g.day_merge else ""
        lines.append(
            f"| `{g.code}` | {'yes' if g.exclusive else 'no'} | {g.clock_skew_s} s{merged} | "
            f"{_grams(g.daily_cap_grams)} | {_cap_source(g)} |"
        )
    lines += ["", "## Contents", ""]
    for category in CATEGORY_ORDER:
        members = [m for m in ms if m.category == category]
        if members:
            links = ", ".join(f"[`{m.key}`](#{_anchor(m)})" for m in members)
            lines.append(f"- **{CATEGORY_NAMES[category]}**: {links}")
    for category in CATEGORY_ORDER:
        members = [m for m in ms if m.category == category]
        if not members:
            continue
        lines += ["", f"## {CATEGORY_NAMES[category]}"]
        for m in members:
            lines += _section(m, catalogue, regions)
    return "\n".join(lines) + "\n"


def _anchor(m: Methodology) -> str:
    return m.key.replace(".", "").replace("@", "")


def _grams(value: int | None) -> str:
    return "none" if value is None else f"{value:,} g"


def _cap_source(g: Group) -> str:
    return g.cap_source or "—"


def _region(code: str | None, regions: RegionCatalogue) -> str:
    if code is None:
        return "national"
    region = regions.get(code)
    return f"{code} {region.name}" if region else code


def _section(m: Methodology, catalogue: Catalogue, regions: RegionCatalogue) -> list[str]:
    spec = MODELS[m.model]
    group = catalogue.groups[m.group]
    lines = [
        "",
        f'### <a id="{_anchor(m)}"></a>{m.title} — `{m.key}`',
        "",
        f"Behaviours {', '.join(f'`{b}`' for b in m.behaviours)} · group `{m.group}` · "
        f"region {_region(m.region, regions)} · effective {m.effective_from} → "
        f"{m.effective_to or 'open'} · claims accepted up to {m.claim_window_days} days old · "
        f"content hash `{m.content_hash}`",
        "",
    ]
    if m.standard:
        lines += [f"Standard: {m.standard}", ""]
    if m.description:
        lines += [" ".join(m.description.split()), ""]
    lines += [f"**Formula** (model `{m.model}`): {spec.formula}.", ""]
    if m.parameters:
        params = ", ".join(f"`{k}` = {v}" for k, v in sorted(m.parameters.items()))
        lines += [f"Parameters: {params}.", ""]
    lines += [_quality(m), ""]
    lines += [
        "| factor | role | value | unit | region | valid | confidence | source |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for f in m.factors:
        flag = "⚠ operator-set" if f.confidence == Confidence.OPERATOR_SET else f.confidence.value
        valid = f"{f.valid_from or '…'} → {f.valid_to or '…'}"
        note = f" *({f.note})*" if f.note else ""
        lines.append(
            f"| `{f.id}` | {f.role} | {format_decimal(f.value)} | {f.unit} | "
            f"{_region(f.region, regions) if f.region else '(all)'} | {valid} | {flag} | "
            f"{f.source}{note} |"
        )
    if m.substitution is not None:
        sub = m.substitution
        flag = "⚠ operator-set" if sub.confidence == Confidence.OPERATOR_SET else sub.confidence
        lines += ["", f"Substitution ({sub.method}, {flag}): {sub.source}", ""]
        lines += ["| trips up to | shares of the substituted modes |", "| --- | --- |"]
        for band in sub.bands:
            bound = f"{format_decimal(band.up_to_km)} km" if band.up_to_km else "longer"
            shares = ", ".join(f"{k} {format_decimal(v)}" for k, v in sorted(band.shares.items()))
            lines.append(f"| {bound} | {shares} |")
    b = m.plausibility
    bounds = [f"{k} {_range(v.minimum, v.maximum)}" for k, v in sorted(b.quantities.items())]
    if b.duration_s.minimum is not None or b.duration_s.maximum is not None:
        bounds.append(f"duration {_range(b.duration_s.minimum, b.duration_s.maximum)} s")
    if b.max_speed_kmh is not None:
        bounds.append(f"speed at most {format_decimal(b.max_speed_kmh)} km/h")
    for k, v in sorted(b.quantities_per_day.items()):
        # an operator-set bound's source starts "operator-set:" (methodology_files.py)
        why = f"⚠ {v.source}" if v.confidence == Confidence.OPERATOR_SET else v.source
        bounds.append(f"{k} {_range(v.minimum, v.maximum)} per day of the period covered ({why})")
    if b.frequency is not None:
        bounds.append(f"at most {b.frequency.max_count} per person within {b.frequency.window_s} s")
    lines += [
        "",
        f"Caps: group `{group.code}` {_grams(group.daily_cap_grams)} per person per day"
        + (f"; this methodology {_grams(m.daily_cap_grams)} per day" if m.daily_cap_grams else "")
        + f". Plausibility: {'; '.join(bounds) or 'start before end, not in the future'}.",
        "",
    ]
    lines += _example(m, catalogue, regions)
    return lines


def _quality(m: Methodology) -> str:
    best, worst = (q.value for q in m.quality_range())
    tier = f"**{best}**" if best == worst else f"**{best}** to **{worst}** (by the factors used)"
    deduction = ", ".join(f"{c.value} −{d}" for c, d in m.uncertainty_deduction.items())
    return f"Quality of its reductions: {tier}; uncertainty deduction: {deduction or 'none'}."


def _range(low: Decimal | None, high: Decimal | None) -> str:
    return f"{format_decimal(low) if low is not None else '…'}–" + (
        format_decimal(high) if high is not None else "…"
    )


def _example(m: Methodology, catalogue: Catalogue, regions: RegionCatalogue) -> list[str]:
    """A worked example: a plausible event, quantified by the engine."""
    day = m.effective_from
    region = m.region or "110105"
    quantities = _example_quantities(m, catalogue)
    start = datetime.combine(day, time(8, 0), CST)
    seconds = _example_duration(m, quantities)
    event = BehaviourEvent(
        "example", "example", m.behaviours[0], start, start + timedelta(seconds=seconds),
        quantities, region, None, b"",
    )  # fmt: skip
    result = quantify(m, event, day, catalogue)
    inputs = ", ".join(f"{k} = {format_decimal(v)}" for k, v in sorted(quantities.items()))
    head = (
        f"**Worked example** (computed by the engine): `{m.behaviours[0]}` on {day} in "
        f"{_region(region, regions)}, {inputs}, lasting {_duration(seconds)}"
    )
    if isinstance(result, Rejection):
        return [f"{head}: rejected — {result.reason.value}: {result.message}."]
    used = "; ".join(
        f"{u.role} `{u.factor.id}` = {format_decimal(u.factor.value)} {u.factor.unit}"
        for u in result.factors
    )
    named = ", ".join(f"{k} = {format_decimal(v)}" for k, v in result.inputs)
    deducted = (
        f", less the {format_decimal(result.deduction)} uncertainty deduction"
        if result.deduction
        else ""
    )
    return [
        f"{head}. Inputs {named}; factors {used}; quality {result.quality.value}{deducted}. "
        f"Exact result {format_decimal(result.exact_grams)} g → credited **{result.grams:,} g**.",
    ]


def _example_quantities(m: Methodology, catalogue: Catalogue) -> dict[str, Decimal]:
    if m.model == "baseline_vs_actual":
        return {"kwh": Decimal(60), "baseline_kwh": Decimal(80), "count": Decimal(1)}
    keys = [catalogue.quantity_key(m)]
    if "full_trip_km" in m.parameters:  # a scaled per-trip credit needs the distance
        keys.append("distance_km")
    return {key: _example_value(m, key) for key in keys}


def _example_value(m: Methodology, key: str) -> Decimal:
    """The example quantity for `key`, inside the version's bounds."""
    value = EXAMPLE_QUANTITY[key]
    per_day = m.plausibility.quantities_per_day.get(key)  # the example lasts the shortest
    if per_day is not None and per_day.maximum is not None:  # duration: one day at most
        value = min(value, per_day.maximum)
    bounds = m.plausibility.quantities.get(key)
    if bounds is not None and bounds.maximum is not None:
        value = min(value, bounds.maximum)
    if bounds is not None and bounds.minimum is not None:
        value = max(value, bounds.minimum)
    return value


def _example_duration(m: Methodology, quantities: dict[str, Decimal]) -> int:
    if m.model == "baseline_vs_actual":
        return 30 * 86_400
    low = int(m.plausibility.duration_s.minimum or 0)
    high = int(m.plausibility.duration_s.maximum or 86_400)
    seconds = 1_800
    distance = quantities.get("distance_km")
    if distance is not None and m.plausibility.max_speed_kmh is not None:
        seconds = max(seconds, int(distance * 3600 / (m.plausibility.max_speed_kmh / 2)))
    if "steps" in quantities:
        seconds = high - 1
    return max(low, min(seconds, high))


def _duration(seconds: int) -> str:
    if seconds >= 86_400 - 1:
        return f"{round(seconds / 86_400)} day(s)"
    return f"{seconds // 60} min"
