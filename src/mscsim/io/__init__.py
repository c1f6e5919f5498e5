"""Files: scenario and lot TOML in, result tables out (atomic writes)."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
