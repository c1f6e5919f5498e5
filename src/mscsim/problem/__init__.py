"""Problems: a model, per-patient parameters, per-patient dose events and output times.

Build one from a scenario (:func:`problem_from_scenario`, where every evidence
and lot check happens), from a population
(:func:`mscsim.population.problem_from_population`) or in code with :func:`ev`;
simulate it with :func:`solve`. Executors spread chunks of work.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
