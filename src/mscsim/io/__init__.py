"""Files: scenario and lot TOML in, result tables out (atomic writes)."""

from typing import TYPE_CHECKING

from mscsim._lazy import lazy_exports

if TYPE_CHECKING:
    from mscsim.io.scenario import (
        format_validation_error,
        load_lot,
        load_scenario,
        load_trial,
        parse_lot,
        parse_scenario,
        read_toml,
    )
    from mscsim.io.tables import (
        TABLE_FORMATS,
        atomic_path,
        check_table_path,
        read_table,
        write_table,
    )

__all__ = [
    "TABLE_FORMATS",
    "atomic_path",
    "check_table_path",
    "format_validation_error",
    "load_lot",
    "load_scenario",
    "load_trial",
    "parse_lot",
    "parse_scenario",
    "read_table",
    "read_toml",
    "write_table",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "scenario": [
            "format_validation_error",
            "load_lot",
            "load_scenario",
            "load_trial",
            "parse_lot",
            "parse_scenario",
            "read_toml",
        ],
        "tables": ["TABLE_FORMATS", "atomic_path", "check_table_path", "read_table", "write_table"],
    },
)
