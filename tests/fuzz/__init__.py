"""Fuzzing of the ``mscsim`` command line.

:mod:`tests.fuzz.generate` turns the example files into mutated command lines and
input files, deterministically from a seed; :mod:`tests.fuzz.oracle` runs each case
in a worker process with a time and memory limit and checks what the command did.
``tests/cli/test_fuzz.py`` runs a fast subset, ``scripts/fuzz_cli.py`` thousands.
"""
