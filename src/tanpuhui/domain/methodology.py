"""Methodologies as immutable data, and their resolution for an event.

A `Methodology` is one published *version*: it names a calculation model (code, in `models`),
the behaviour codes it covers, the region scope it applies to, its validity period, its factors
(each with provenance) and parameters, plausibility bounds, its behaviour group and caps. A fix
is a new version; the content hash of the version is recorded with every reduction.

`Catalogue.resolve(behaviour, day, region)` picks the one applicable version: the most specific
region scope wins (county > prefecture > province > national); among equals the latest
effective date. A `Factor` is likewise chosen by role, date and most specific region.

Quality: every factor (and a substitution table) carries a `Confidence`; a reduction's quality
tier is the lowest confidence among what it used (`lowest_confidence`, order `QUALITY_ORDER`:
text > 2nd > derived > operator-set). A version may declare an uncertainty deduction by
confidence (`uncertainty_deduction`); `Methodology.deduction_for(quality)` is the fraction taken
off a reduction of that quality — the largest declared for any confidence at least as good as
it, so a weaker reduction is never discounted less than a stronger one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from tanpuhui.domain.quantity import DENOMINATOR_QUANTITY, grams_per_unit, parse_unit
from tanpuhui.domain.regions import scope_contains, scope_rank


class Confidence(StrEnum):
    """How a factor's value is known (see methodology-facts.md)."""

    TEXT = "text"  # read in the source document (or an article quoting it)
    SECOND_HAND = "2nd"  # a secondary report
    DERIVED = "derived"  # arithmetic on sourced values; the derivation is stated
    OPERATOR_SET = "operator-set"  # no published value: a conservative operator choice


#: Confidences from the best to the worst: a reduction's quality is the worst it used.
QUALITY_ORDER: tuple[Confidence, ...] = (
    Confidence.TEXT,
    Confidence.SECOND_HAND,
    Confidence.DERIVED,
    Confidence.OPERATOR_SET,
)
_RANK = {c: i for i, c in enumerate(QUALITY_ORDER)}


def quality_rank(confidence: Confidence) -> int:
    """0 for `text` (the best) up to 3 for `operator-set`."""
    return _RANK[confidence]


def lowest_confidence(confidences: Iterable[Confidence]) -> Confidence:
    """The quality tier of a reduction: the lowest confidence among the inputs it used
    (`operator-set` when it used none, which no valid version allows)."""
    return max(confidences, key=quality_rank, default=Confidence.OPERATOR_SET)


@dataclass(frozen=True, slots=True)
class Factor:
    id: str
    role: str
    value: Decimal
    unit: str
    source: str
    confidence: Confidence
    region: str | None = None  # scope; None = national
    valid_from: date | None = None  # inclusive
    valid_to: date | None = None  # exclusive
    series: str = ""  # a statistical series (e.g. a grid-factor series); never mixed in a role
    note: str = ""

    def applies(self, day: date, region: str) -> bool:
        if self.valid_from is not None and day < self.valid_from:
            return False
        if self.valid_to is not None and day >= self.valid_to:
            return False
        return scope_contains(self.region, region)


@dataclass(frozen=True, slots=True)
class Bounds:
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    #: where the bound comes from (bounds per day of a period carry one: a published value,
    #: or an `operator-set` choice saying why), and how it is known
    source: str = ""
    confidence: Confidence | None = None

    def contains(self, value: Decimal) -> bool:
        if self.minimum is not None and value < self.minimum:
            return False
        return self.maximum is None or value <= self.maximum


class Frequency(NamedTuple):
    """At most `max_count` claims of a behaviour per person within any `window_s` seconds
    (e.g. one clean plate per two hours): methodology data, checked by intake against the
    person's claims (a claim over the limit is rejected `too_frequent`)."""

    max_count: int
    window_s: int


@dataclass(frozen=True, slots=True)
class Plausibility:
    quantities: Mapping[str, Bounds] = field(default_factory=dict)
    duration_s: Bounds = Bounds()
    max_speed_kmh: Decimal | None = None
    frequency: Frequency | None = None
    #: bounds per day of the period an event covers (caps.py): D days may hold D × these
    quantities_per_day: Mapping[str, Bounds] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Methodology:
    code: str
    version: int
    title: str
    model: str
    behaviours: tuple[str, ...]
    group: str
    factors: tuple[Factor, ...]
    content_hash: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    region: str | None = None
    effective_from: date = date(2000, 1, 1)
    effective_to: date | None = None
    plausibility: Plausibility = Plausibility()
    daily_cap_grams: int | None = None
    claim_window_days: int = 30
    substitution: Substitution | None = None
    category: str = ""
    standard: str = ""
    description: str = ""
    #: fraction of a reduction deducted by its quality tier (conservativeness discount)
    uncertainty_deduction: Mapping[Confidence, Decimal] = field(default_factory=dict)
    key: str = field(init=False, compare=False)  # code@version, computed once

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.code}@{self.version}")

    def in_effect(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day < self.effective_to)

    def factor(self, role: str, day: date, region: str) -> Factor | None:
        """The factor for `role` valid on `day` with the most specific region containing it."""
        best: Factor | None = None
        for candidate in self.factors:
            if candidate.role != role or not candidate.applies(day, region):
                continue
            if best is None or scope_rank(candidate.region) > scope_rank(best.region):
                best = candidate
        return best

    def roles(self) -> set[str]:
        return {f.role for f in self.factors}

    def deduction_for(self, quality: Confidence) -> Decimal:
        """The uncertainty deduction of a reduction of `quality`: the largest fraction declared
        for any confidence at least as good as it (0 when none is declared)."""
        rank = quality_rank(quality)
        return max(
            (d for c, d in self.uncertainty_deduction.items() if quality_rank(c) <= rank),
            default=Decimal(0),
        )

    def quality_range(self) -> tuple[Confidence, Confidence]:
        """The best and the worst quality a reduction of this version can have: it uses one
        factor per role (and the substitution table, if any)."""
        by_role: dict[str, list[Confidence]] = {}
        for f in self.factors:
            by_role.setdefault(f.role, []).append(f.confidence)
        fixed = [self.substitution.confidence] if self.substitution is not None else []
        best = lowest_confidence([*fixed, *(min(cs, key=quality_rank) for cs in by_role.values())])
        worst = lowest_confidence([*fixed, *(f.confidence for f in self.factors)])
        return best, worst

    def quantity_key(self) -> str:
        """The event quantity this version multiplies, from its emission factors' units
        (validated on load: they all share one denominator)."""
        (key,) = {
            DENOMINATOR_QUANTITY[parse_unit(f.unit)[1]] for f in self.factors if is_emission(f)
        }
        return key


def is_emission(factor: Factor) -> bool:
    """An emission factor (mass CO2e per unit), as opposed to a quantity factor such as a
    baseline consumption in kWh per person-day."""
    try:
        parse_unit(factor.unit)
    except ValueError:
        return False
    return True


class FactorUse(NamedTuple):
    """A factor as used for one role of one quantification: `per_unit` is grams per unit for
    an emission factor, the factor's own value for a quantity factor."""

    role: str
    factor: Factor
    per_unit: Decimal


def factor_use(role: str, factor: Factor) -> FactorUse:
    if is_emission(factor):
        return FactorUse(role, factor, grams_per_unit(factor.value, factor.unit))
    return FactorUse(role, factor, factor.value)


#: Modes a substitution table may name without an emission factor: they emit nothing.
ZERO_EMISSION_MODES = frozenset({"walking", "cycling"})


@dataclass(frozen=True, slots=True)
class Band:
    """Substitution shares for trips up to `up_to_km` (None: every longer trip)."""

    up_to_km: Decimal | None
    shares: Mapping[str, Decimal]  # mode → share of the trips it would have been


@dataclass(frozen=True, slots=True)
class Substitution:
    """What a low-carbon trip replaces: shares of substituted modes by trip distance.

    均值法 (city-average method): the shares are the city's motorised modal split; 替代法
    (substitution method): survey answers to "how would you have made this trip?". Either way
    BE per km = Σ share × EF(mode); zero-emission modes (walking) count as EF 0.
    """

    method: str
    bands: tuple[Band, ...]
    source: str
    confidence: Confidence

    def band_for(self, distance_km: Decimal) -> Band:
        for band in self.bands:
            if band.up_to_km is None or distance_km <= band.up_to_km:
                return band
        return self.bands[-1]

    def modes(self) -> set[str]:
        return {mode for band in self.bands for mode in band.shares}


class DayMerge(StrEnum):
    """How day-level quantities of one holder, group and local day from several sources are
    merged (融合汇总) instead of summed (merge.py)."""

    LARGEST = "largest"  # the largest single claim of the day counts; a larger one, the rest


@dataclass(frozen=True, slots=True)
class Group:
    """A behaviour group: the unit of exclusivity (one trip is one trip) and of daily caps.

    `clock_skew_s`: how far apart two claims of an exclusive group may lie and still be one act
    (dedup.py). `day_merge`: day-level quantities are merged per holder and day, not compared
    by time (merge.py). `day_claims`: behaviours settled after their day (settlement.py)."""

    code: str
    title: str
    exclusive: bool
    clock_skew_s: int = 0
    daily_cap_grams: int | None = None
    cap_source: str = ""  # where the cap comes from (caps are policy, not published factors)
    day_merge: DayMerge | None = None
    #: day claims of this group (behaviour → the group whose claims of that day exclude it),
    #: held and settled once their window closes (settlement.py)
    day_claims: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.clock_skew_s < 0:
            raise ValueError(f"group {self.code}: clock-skew tolerance must not be negative")


class Catalogue:
    """Every published methodology version and group, indexed for resolution."""

    def __init__(self, methodologies: Iterable[Methodology], groups: Iterable[Group]) -> None:
        self.methodologies: tuple[Methodology, ...] = tuple(
            sorted(methodologies, key=lambda m: (m.code, m.version))
        )
        self.groups: Mapping[str, Group] = {g.code: g for g in groups}
        by_behaviour: dict[str, list[Methodology]] = {}
        for m in self.methodologies:
            for behaviour in m.behaviours:
                by_behaviour.setdefault(behaviour, []).append(m)
        self._by_behaviour = by_behaviour
        self._by_key = {m.key: m for m in self.methodologies}
        #: Per group, the longest duration its methodologies allow: how far back a stored
        #: claim can reach to overlap a new one.
        reach: dict[str, int] = {}
        for m in self.methodologies:
            longest = m.plausibility.duration_s.maximum
            seconds = int(longest) if longest is not None else 86_400
            reach[m.group] = max(reach.get(m.group, 0), seconds)
        self.max_duration_s: Mapping[str, int] = reach
        #: Per group, the longest frequency window of its methodologies (claims that far
        #: before or after a new one can count against its frequency limit).
        windows: dict[str, int] = {}
        for m in self.methodologies:
            if m.plausibility.frequency is not None:
                longest_window = max(windows.get(m.group, 0), m.plausibility.frequency.window_s)
                windows[m.group] = longest_window
        self.frequency_window_s: Mapping[str, int] = windows
        #: Per group, the longest claim window of its methodologies, every version: how late
        #: a claim of the group may still arrive (what a held claim must await, settlement.py).
        claim_windows: dict[str, int] = {}
        for m in self.methodologies:
            claim_windows[m.group] = max(claim_windows.get(m.group, 0), m.claim_window_days)
        self.claim_window_days: Mapping[str, int] = claim_windows
        # Memos of pure lookups (the catalogue never changes once built).
        self._resolved: dict[tuple[str, date, str], Methodology | None] = {}
        self._uses: dict[tuple[str, date, str], dict[str, FactorUse]] = {}
        self._quantity_keys: dict[str, str] = {}

    def knows_behaviour(self, behaviour: str) -> bool:
        return behaviour in self._by_behaviour

    def behaviours(self) -> list[str]:
        return sorted(self._by_behaviour)

    def get(self, key: str) -> Methodology | None:
        return self._by_key.get(key)

    def versions(self, code: str) -> list[Methodology]:
        return [m for m in self.methodologies if m.code == code]

    def resolve(self, behaviour: str, day: date, region: str) -> Methodology | None:
        key = (behaviour, day, region)
        try:
            return self._resolved[key]
        except KeyError:
            found = self._resolved[key] = self._resolve(behaviour, day, region)
            return found

    def factor_uses(self, m: Methodology, day: date, region: str) -> dict[str, FactorUse]:
        """Every role's factor valid for `day` and `region` (roles with none are absent)."""
        key = (m.key, day, region)
        try:
            return self._uses[key]
        except KeyError:
            uses = {}
            for role in sorted(m.roles()):
                factor = m.factor(role, day, region)
                if factor is not None:
                    uses[role] = factor_use(role, factor)
            self._uses[key] = uses
            return uses

    def quantity_key(self, m: Methodology) -> str:
        try:
            return self._quantity_keys[m.key]
        except KeyError:
            key = self._quantity_keys[m.key] = m.quantity_key()
            return key

    def _resolve(self, behaviour: str, day: date, region: str) -> Methodology | None:
        best: Methodology | None = None
        best_rank = (-1, date.min, "")
        for m in self._by_behaviour.get(behaviour, ()):
            if not m.in_effect(day) or not scope_contains(m.region, region):
                continue
            rank = (scope_rank(m.region), m.effective_from, m.code)
            if rank > best_rank:
                best, best_rank = m, rank
        return best

    def group_of(self, m: Methodology) -> Group:
        return self.groups[m.group]


def catalogue_problems(catalogue: Catalogue) -> list[str]:
    """Catalogue-wide rules no single file can check: every version's group exists, and no two
    codes claim the same behaviour for the same region scope over overlapping periods (which
    would make resolution ambiguous). Versions of one code must not overlap in time either."""
    problems = []
    for m in catalogue.methodologies:
        if m.group not in catalogue.groups:
            problems.append(f"{m.key}: unknown behaviour group {m.group!r}")
    for g in catalogue.groups.values():
        for behaviour, excluded in sorted(g.day_claims.items()):
            if excluded not in catalogue.groups:
                problems.append(f"group {g.code}: day claim {behaviour} excludes unknown group")
    ms = catalogue.methodologies
    for i, a in enumerate(ms):
        for b in ms[i + 1 :]:
            if a.region != b.region or not set(a.behaviours) & set(b.behaviours):
                continue
            a_end, b_end = a.effective_to or date.max, b.effective_to or date.max
            if a.effective_from < b_end and b.effective_from < a_end:
                shared = ", ".join(sorted(set(a.behaviours) & set(b.behaviours)))
                problems.append(
                    f"{a.key} and {b.key} both cover {shared} in region {a.region or 'national'}"
                    " over overlapping periods"
                )
    return problems


def diff_methodologies(a: Methodology, b: Methodology) -> list[str]:
    """What changed from version `a` to `b`, one line per difference, for an operator."""
    changes: list[str] = []
    for name in (
        "code", "version", "title", "model", "group", "region", "effective_from",
        "effective_to", "claim_window_days", "daily_cap_grams", "category", "standard",
        "description", "content_hash",
    ):  # fmt: skip
        old, new = getattr(a, name), getattr(b, name)
        if old != new:
            changes.append(f"{name}: {old} → {new}")
    if a.behaviours != b.behaviours:
        changes.append(f"behaviours: {', '.join(a.behaviours)} → {', '.join(b.behaviours)}")
    for key in sorted(set(a.parameters) | set(b.parameters)):
        if a.parameters.get(key) != b.parameters.get(key):
            changes.append(f"parameter {key}: {a.parameters.get(key)} → {b.parameters.get(key)}")
    old_f, new_f = {f.id: f for f in a.factors}, {f.id: f for f in b.factors}
    for fid in sorted(set(old_f) | set(new_f)):
        f, g = old_f.get(fid), new_f.get(fid)
        if f is None and g is not None:
            changes.append(f"factor {fid} added: {g.role} = {g.value} {g.unit} [{g.confidence}]")
        elif g is None and f is not None:
            changes.append(f"factor {fid} removed (was {f.role} = {f.value} {f.unit})")
        elif f is not None and g is not None and f != g:
            for field_name in ("role", "value", "unit", "region", "valid_from", "valid_to",
                               "confidence", "series", "source", "note"):  # fmt: skip
                x, y = getattr(f, field_name), getattr(g, field_name)
                if x != y:
                    changes.append(f"factor {fid} {field_name}: {x} → {y}")
    if a.plausibility != b.plausibility:
        changes.append(f"plausibility: {a.plausibility} → {b.plausibility}")
    if a.substitution != b.substitution:
        changes.append(f"substitution: {a.substitution} → {b.substitution}")
    if a.uncertainty_deduction != b.uncertainty_deduction:
        changes.append(
            f"uncertainty deduction: {dict(a.uncertainty_deduction)} → "
            f"{dict(b.uncertainty_deduction)}"
        )
    return changes


def superseded(methodologies: Iterable[Methodology]) -> list[Methodology]:
    """Versions as they apply once later versions exist: an open-ended version of a code ends
    where the next version of the same code begins (a fix applies from its effective date)."""
    by_code: dict[str, list[Methodology]] = {}
    for m in methodologies:
        by_code.setdefault(m.code, []).append(m)
    result = []
    for versions in by_code.values():
        versions.sort(key=lambda m: m.version)
        for m, later in zip(versions, [*versions[1:], None], strict=True):
            if (
                later is not None
                and m.effective_to is None
                and later.effective_from > m.effective_from
            ):
                m = replace(m, effective_to=later.effective_from)
            result.append(m)
    return result
