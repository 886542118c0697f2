"""The pure core: events, methodologies, quantification, de-duplication, caps and the ledger.

Nothing here does I/O, reads a clock or the environment, or imports a framework; time, ids and
settings are passed in. import-linter enforces it.
"""
