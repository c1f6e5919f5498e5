"""Runnable examples; importable so tests can check them."""
