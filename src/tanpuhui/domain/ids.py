"""Identifiers: time-ordered UUIDs (RFC 9562 version 7), built from values passed in.

Time-ordered ids keep index inserts at the right edge (fast bulk writes) and let the data shard
by person later; the domain takes the millisecond clock and the random bits as arguments so it
stays pure — `adapters.clock` supplies them.
"""

from __future__ import annotations

import uuid


def uuid7(unix_ms: int, random_bits: int) -> uuid.UUID:
    """A version-7 UUID from a Unix time in milliseconds and 74 random bits."""
    if not 0 <= unix_ms < 1 << 48:
        raise ValueError("unix_ms out of range")
    rand_a = (random_bits >> 62) & 0xFFF
    rand_b = random_bits & ((1 << 62) - 1)
    value = (unix_ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return uuid.UUID(int=value)


def uuid7_time_ms(value: uuid.UUID) -> int:
    """The millisecond timestamp a version-7 UUID carries."""
    return value.int >> 80
