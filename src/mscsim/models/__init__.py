"""Models: the shared contract, cell kinetics, paracrine effect, diseases, reference drug."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
