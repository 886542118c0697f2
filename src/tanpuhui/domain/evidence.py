"""Evidence: who issued the real-world proof of a behaviour, who may cite it, and its fingerprint.

A reference (`evidence.ref`) means something only in its issuer's namespace: order 42 of one
coffee chain is not order 42 of another. The issuer is the real-world party that issued the
object — the merchant, the card scheme, the meter — not the enterprise reporting it, and is
named `<namespace>:<name>` from the documented list `ISSUER_NAMESPACES` (docs/events.md).

**Evidence is owned.** The operator registers an issuer (`authorise_issuer`): the enterprise
that *is* the issuer (its references need not name it), and enterprises it authorises to cite
the issuer's references (a wallet that paid the order, a food app that sold the canteen's
meal). The fingerprint of a reference then depends on who may cite it:

    a registered issuer, cited by an entitled enterprise → (issuer, ref, behaviour): matched
        across enterprises, so the canteen's own report and the food app's are one act
    a registered issuer, cited by anyone else            → refused (`issuer_not_entitled`):
        it never displaces, pre-empts or probes the issuer's own report
    an issuer nobody registered, or none                 → (reporter, issuer, ref, behaviour):
        it catches the reporter's own re-sends but is invisible to every other enterprise

References without an issuer are the reporter's own — or, for an enterprise registered as an
issuer, that issuer's. A fingerprint backs at most one active reduction (the database
enforces it). The same evidence claimed for two different persons is not settled silently
first-wins: the later claim is a duplicate flagged `evidence_contested` for review.

An identical claim re-sent by its enterprise under a new event id — same subject, behaviour,
times, quantities, region — is the same act too: `resend_fingerprint` (for groups that are
neither exclusive by time nor merged per day, where nothing else would catch it).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import NamedTuple

from tanpuhui.domain.events import BehaviourEvent, Reason, Rejection

#: The issuer namespaces an operator may register (`<namespace>:<name>`), and what they name.
ISSUER_NAMESPACES: Mapping[str, str] = {
    "merchant": "a merchant's order, receipt or till slip (shop, restaurant, coffee chain)",
    "canteen": "a canteen or catering operator's meal",
    "card": "a card scheme or transit-card issuer's tap (交通联合, UnionPay, a city card)",
    "transit": "a transit operator's ticket, QR-code ride or gate record (metro, bus company)",
    "meter": "a utility meter, by its meter number: one reading of one period",
    "utility": "a utility's bill or customer account",
    "invoice": "a tax e-invoice (发票), by the tax authority that numbers it",
    "platform": "a platform's own order (e-commerce, food delivery, ride hailing)",
}

#: Outcome reason of a duplicate whose evidence is already claimed for another person.
CONTESTED = "evidence_contested"


def issuer_namespace(issuer: str) -> str | None:
    """The documented namespace of `issuer` (`merchant:starbucks-cn` → `merchant`), if any."""
    namespace, colon, name = issuer.partition(":")
    return namespace if colon and name and namespace in ISSUER_NAMESPACES else None


class IssuerRights(NamedTuple):
    """What the registry says about the issuers one batch of one enterprise names."""

    registered: frozenset[str] = frozenset()  # issuers the operator registered
    entitled: frozenset[str] = frozenset()  # … that this enterprise may cite
    own: str | None = None  # the issuer this enterprise is, if it is one

    @property
    def trivial(self) -> bool:
        """Nothing registered concerns the batch: every fingerprint is the reporter's own."""
        return not self.registered and self.own is None


NO_RIGHTS = IssuerRights()


def evidence_fingerprint(
    enterprise_id: uuid.UUID, event: BehaviourEvent, rights: IssuerRights = NO_RIGHTS
) -> bytes | Rejection | None:
    """The fingerprint of the event's evidence under `rights` (see the module docstring)."""
    evidence = event.evidence
    if evidence is None:
        return None
    issuer = evidence.issuer or rights.own
    if issuer is None:  # the reporter's own reference
        scope = str(enterprise_id)
    elif issuer in rights.registered:
        if issuer != rights.own and issuer not in rights.entitled:
            return Rejection(
                Reason.ISSUER_NOT_ENTITLED,
                f"this enterprise is not entitled to cite references of {issuer[:128]!r}",
                "evidence",
            )
        scope = issuer
    else:  # nobody owns the name: it cannot reach another enterprise's claims
        scope = f"{enterprise_id}/{issuer}"
    return _digest(f"{scope}\x1f{evidence.ref}\x1f{event.behaviour}")


def resend_fingerprint(enterprise_id: uuid.UUID, event: BehaviourEvent) -> bytes:
    """The same claim again from the same enterprise, whatever its event id."""
    return _digest(f"resend\x1f{enterprise_id}\x1f{event.payload_hash.hex()}")


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


class IssuerGrant(NamedTuple):
    """One registry entry: `enterprise_id` may cite `issuer` (and is it, when `is_issuer`)."""

    issuer: str
    enterprise_id: uuid.UUID
    is_issuer: bool
    granted_at: datetime


def rights_from(
    enterprise_id: uuid.UUID, grants: Iterable[IssuerGrant], named: Iterable[str]
) -> IssuerRights:
    """The rights of one enterprise over the issuers a batch names, from the registry entries
    of those issuers and of the enterprise itself."""
    names = set(named)
    grants = list(grants)
    own = next((g.issuer for g in grants if g.enterprise_id == enterprise_id and g.is_issuer), None)
    registered = {g.issuer for g in grants if g.issuer in names}
    if own is not None:
        registered.add(own)
    entitled = {g.issuer for g in grants if g.enterprise_id == enterprise_id}
    return IssuerRights(frozenset(registered), frozenset(entitled & registered), own)
