"""Command line: thin commands over the Python API."""
