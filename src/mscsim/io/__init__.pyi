# The names mscsim.io exports, each imported from its module on first use
# (lazy_loader.attach_stub reads the imports; type checkers read all of it).

from .models import load_model
from .nonmem import NonmemData, read_nonmem, write_nonmem, write_nonmem_file
from .scenario import (
    format_validation_error,
    load_lot,
    load_scenario,
    load_trial,
    parse_lot,
    parse_scenario,
    read_toml,
)
from .tables import TABLE_FORMATS, atomic_path, check_table_path, read_table, write_table

__all__ = [
    "TABLE_FORMATS",
    "NonmemData",
    "atomic_path",
    "check_table_path",
    "format_validation_error",
    "load_lot",
    "load_model",
    "load_scenario",
    "load_trial",
    "parse_lot",
    "parse_scenario",
    "read_nonmem",
    "read_table",
    "read_toml",
    "write_nonmem",
    "write_nonmem_file",
    "write_table",
]
