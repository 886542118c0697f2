"""The exclusion register: what is claimed under another mechanism is never credited here.

Rooftop PV that already carries green certificates (绿证) or CCER credits, a meter inside an
emissions-trading (ETS) sector, a programme already counted elsewhere: crediting them again
counts the same tonne twice across mechanisms (Beijing DB11/T 3043-2024 and the 2025 Shanghai
rules require the exclusion). The operator — or an enterprise, for what it is entitled to —
declares such a subject once, with the mechanism and the period it covers:

    key            what it names                              matched against an event's
    meter:<id>     a utility meter                            evidence issuer
    installation:<id>  an installation (a PV array, a heat pump)  evidence issuer
    enterprise:<uuid>  everything an enterprise reports (a programme), optionally only
                   some behaviours                            reporting enterprise

An event matching a declaration in effect on its day is rejected `claimed_elsewhere`, naming
the mechanism. Declarations are reference data, read once per batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import NamedTuple

from tanpuhui.domain.events import BehaviourEvent, Reason, Rejection

#: The mechanisms a subject may be claimed under elsewhere.
MECHANISMS: Mapping[str, str] = {
    "green_certificate": "green electricity certificates (绿证, GEC)",
    "ccer": "China Certified Emission Reductions (CCER)",
    "ets": "a sector covered by an emissions-trading scheme (全国/地方碳市场)",
    "other_programme": "another carbon-inclusion or offset programme",
}

#: Key namespaces of the register.
KEY_NAMESPACES = ("meter", "installation", "enterprise")


class Exclusion(NamedTuple):
    """One declaration: `key` is claimed under `mechanism` from `valid_from` (inclusive) to
    `valid_to` (exclusive; None: open); `behaviours` empty means every behaviour."""

    id: uuid.UUID
    key: str
    mechanism: str
    behaviours: tuple[str, ...]
    valid_from: date | None
    valid_to: date | None
    declared_by: uuid.UUID | None  # None: the operator
    declared_at: datetime
    note: str = ""

    def covers(self, behaviour: str, day: date) -> bool:
        if self.behaviours and behaviour not in self.behaviours:
            return False
        if self.valid_from is not None and day < self.valid_from:
            return False
        return self.valid_to is None or day < self.valid_to


def valid_key(key: str) -> bool:
    namespace, colon, name = key.partition(":")
    return bool(colon and name) and namespace in KEY_NAMESPACES and len(key) <= 160


def enterprise_key(enterprise_id: uuid.UUID) -> str:
    return f"enterprise:{enterprise_id}"


def keys_of(enterprise_id: uuid.UUID, events: Iterable[BehaviourEvent]) -> list[str]:
    """The register keys a batch's events can match (to read the register once)."""
    keys = {enterprise_key(enterprise_id)}
    for ev in events:
        if ev.evidence is not None and ev.evidence.issuer is not None:
            namespace = ev.evidence.issuer.partition(":")[0]
            if namespace in ("meter", "installation"):
                keys.add(ev.evidence.issuer)
    return sorted(keys)


def claimed_elsewhere(
    register: Mapping[str, list[Exclusion]],
    enterprise_id: uuid.UUID,
    event: BehaviourEvent,
    day: date,
) -> Rejection | None:
    """`claimed_elsewhere` when a declaration covers the event on its local day."""
    keys = [enterprise_key(enterprise_id)]
    if event.evidence is not None and event.evidence.issuer is not None:
        keys.append(event.evidence.issuer)
    for key in keys:
        for x in register.get(key, ()):
            if x.covers(event.behaviour, day):
                return Rejection(
                    Reason.CLAIMED_ELSEWHERE,
                    f"{key[:80]} is claimed under {MECHANISMS.get(x.mechanism, x.mechanism)}"
                    f" ({x.mechanism}) from {x.valid_from or 'the start'}: not credited again",
                )
    return None
