"""mscsim: simulator and regimen planner for mesenchymal stem/stromal cell therapy.

The public API: validated specs, the parameter library, models, the engine.
Names load on first use, so ``import mscsim`` is quick.
"""

import lazy_loader

__version__ = "0.1.0"

# attach_stub exports what the stub imports; __version__ is defined here, so add it.
__getattr__, _lazy_dir, __all__ = lazy_loader.attach_stub(__name__, __file__)
__all__ += ["__version__"]


def __dir__() -> list[str]:
    """List the exported names, imported or not, and ``__version__``."""
    return [*_lazy_dir(), "__version__"]
