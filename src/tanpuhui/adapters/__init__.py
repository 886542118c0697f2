"""Adapters: the edges where the services meet storage, files, clocks and randomness."""
