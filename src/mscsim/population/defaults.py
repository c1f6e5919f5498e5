"""Defaults of population runs, light enough for the command line's help to import."""

__all__ = ["DEFAULT_CHUNK_SIZE"]

DEFAULT_CHUNK_SIZE = 5_000
"""Patients simulated together: large enough to vectorize, small enough to stream."""
