"""Points programme files: YAML on disk, validated (every problem at once), turned into a
`domain.programmes.Programme` and its canonical JSON (what is stored and hashed)."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from tanpuhui.domain.errors import MethodologyFileError
from tanpuhui.domain.programmes import PointsBasis, PointsRule, Programme

Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.-]{0,79}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleSpec(_Strict):
    behaviour: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    points: int = Field(ge=1, le=1_000_000)
    per: Literal["occurrence", "kg"] = "occurrence"
    source: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class ProgrammeSpec(_Strict):
    code: Code
    version: int = Field(ge=1)
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    region: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]
    valid_from: date
    valid_to: date | None = None
    rules: list[RuleSpec] = Field(min_length=1)
    daily_cap_points: int | None = Field(default=None, ge=1)
    merchants: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = []
    expiry_days: int | None = Field(default=None, ge=1)


def parse_programme(text: str, name: str) -> tuple[Programme, str]:
    """The programme a file describes and its canonical JSON; `MethodologyFileError` listing
    every problem otherwise."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MethodologyFileError(f"{name}: not YAML", [f"{name}: {exc}"]) from None
    try:
        spec = ProgrammeSpec.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"{name}: {'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}"
            for e in exc.errors()
        ]
        raise MethodologyFileError(f"{name}: invalid programme", problems) from None
    problems = []
    behaviours = [r.behaviour for r in spec.rules]
    if len(set(behaviours)) != len(behaviours):
        problems.append(f"{name}: rules: a behaviour has two rules")
    if spec.valid_to is not None and spec.valid_to <= spec.valid_from:
        problems.append(f"{name}: valid_to: must be after valid_from")
    if problems:
        raise MethodologyFileError(f"{name}: invalid programme", problems)
    content = json.dumps(spec.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(content.encode()).hexdigest()
    return programme_from_spec(spec, digest), content


def programme_from_content(content: str) -> Programme:
    spec = ProgrammeSpec.model_validate_json(content)
    return programme_from_spec(spec, hashlib.sha256(content.encode()).hexdigest())


def programme_from_spec(spec: ProgrammeSpec, digest: str) -> Programme:
    return Programme(
        code=spec.code,
        version=spec.version,
        name=spec.name,
        region=spec.region,
        valid_from=spec.valid_from,
        valid_to=spec.valid_to,
        rules=tuple(
            PointsRule(r.behaviour, r.points, PointsBasis(r.per), r.source) for r in spec.rules
        ),
        daily_cap_points=spec.daily_cap_points,
        merchants=tuple(spec.merchants),
        expiry_days=spec.expiry_days,
        content_hash=digest,
    )
