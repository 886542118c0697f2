"""The parties: enterprises (scene and/or platform), persons, and the bindings between them.

A person is an opaque id; personal data lives elsewhere. An enterprise knows people only by its
own subject ids; a binding links (enterprise, subject) to a person, one active at a time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    SCENE = "scene"  # reports behaviours
    PLATFORM = "platform"  # buys, retires, exports reductions


@dataclass(frozen=True, slots=True)
class Enterprise:
    id: uuid.UUID
    name: str
    roles: frozenset[Role]
    created_at: datetime

    @property
    def is_scene(self) -> bool:
        return Role.SCENE in self.roles


@dataclass(frozen=True, slots=True)
class Person:
    id: uuid.UUID
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Binding:
    id: uuid.UUID
    enterprise_id: uuid.UUID
    subject: str
    person_id: uuid.UUID
    bound_at: datetime
    ended_at: datetime | None = None
