"""Lazy re-exports (PEP 562): a package names its API and imports a part when it is used.

``import mscsim`` and the command line then start in the time it takes to load the
few modules they need; pandas, scipy and pydantic load with the first function that
needs them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, Sequence[str]]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """Build a package's ``__getattr__`` and ``__dir__`` for names defined in its modules.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping of str to sequence of str
        For each module of the package (name relative to it), the names it exports.

    Returns
    -------
    getattr : callable
        Imports the module defining a name on first use and caches the value.
    dir : callable
        The package's names, imported or not.

    Examples
    --------
    In a package's ``__init__.py``, with the same names imported under
    ``if TYPE_CHECKING:`` for type checkers::

        __getattr__, __dir__ = lazy_exports(__name__, {"dose": ["Dose"]})
    """
    origin = {name: f"{package}.{module}" for module, names in exports.items() for name in names}
    namespace = vars(sys.modules[package])

    def __getattr__(name: str) -> object:  # noqa: N807 - the PEP 562 hook
        if name not in origin:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(origin[name]), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:  # noqa: N807 - the PEP 562 hook
        return sorted(set(namespace) | set(origin))

    return __getattr__, __dir__
