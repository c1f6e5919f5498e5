"""Variability between patients and products, for virtual populations."""

from mscsim.population.lots import LotVariability, lot_variability

__all__ = ["LotVariability", "lot_variability"]
