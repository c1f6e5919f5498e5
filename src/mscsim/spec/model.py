"""Which kinetics a scenario simulates, the species and an imaging label."""

from __future__ import annotations

from enum import StrEnum

from mscsim.spec.base import Choice, SpecModel

__all__ = ["Kinetics", "LabelKind", "LabelSpec", "ModelSettings", "Species"]


class Kinetics(StrEnum):
    """The cell kinetics: today's reduced compartments or the organ-level model."""

    REDUCED = "reduced"
    ORGANS = "organs"


class Species(StrEnum):
    """The species simulated; the organ model carries its physiology."""

    MOUSE = "mouse"
    RAT = "rat"
    HUMAN = "human"


class LabelKind(StrEnum):
    """How infused cells are tracked in an imaging or tissue study."""

    INDIUM_111 = "indium_111"
    TECHNETIUM_99M = "technetium_99m"
    LUCIFERASE = "luciferase"
    HUMAN_DNA = "human_dna"


class ModelSettings(SpecModel):
    """The ``[model]`` table.

    Parameters
    ----------
    kinetics : Kinetics
        ``"reduced"`` (default: lung, blood, liver/spleen and target) or
        ``"organs"`` (venous and arterial blood and every major organ, with
        per-species physiology and an optional label).
    """

    kinetics: Choice[Kinetics] = Kinetics.REDUCED


class LabelSpec(SpecModel):
    """The ``[label]`` table: the label the infused cells carry (organ kinetics only).

    Parameters
    ----------
    kind : LabelKind
        ``indium_111``, ``technetium_99m``, ``luciferase`` or ``human_dna``.
    """

    kind: Choice[LabelKind]
