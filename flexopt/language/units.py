"""Units as users write them, and their one conversion into the model's units."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dimension:
    """A physical dimension: its name for messages, the model unit and the accepted units."""

    name: str
    model_unit: str
    factors: dict[str, float]

    def examples(self) -> str:
        return ", ".join(self.factors)


POWER = Dimension("a power", "MW", {"kW": 1e-3, "MW": 1.0, "GW": 1e3})
APPARENT_POWER = Dimension("an apparent power", "MVA", {"kVA": 1e-3, "MVA": 1.0})
ENERGY_PER_YEAR = Dimension("an energy per year", "MWh/y", {"kWh/y": 1e-3, "MWh/y": 1.0, "GWh/y": 1e3})
ENERGY = Dimension("an energy", "MWh", {"kWh": 1e-3, "MWh": 1.0})
VOLTAGE = Dimension("a voltage", "kV", {"V": 1e-3, "kV": 1.0})
CURRENT = Dimension("a current", "kA", {"A": 1e-3, "kA": 1.0})
LENGTH = Dimension("a length", "km", {"m": 1e-3, "km": 1.0})
PERCENT = Dimension("a percentage", "%", {"%": 1.0})
PER_UNIT = Dimension("a per-unit value", "pu", {"pu": 1.0})
ANGLE = Dimension("an angle", "deg", {"deg": 1.0})
RESISTANCE_PER_KM = Dimension("an impedance per length", "ohm/km", {"ohm/km": 1.0})
CAPACITANCE_PER_KM = Dimension("a capacitance per length", "nF/km", {"nF/km": 1.0, "uF/km": 1e3})
LENGTH_OR_PERCENT = Dimension("a share of the length or a distance", "", {"%": 1.0, "km": 1.0, "m": 1e-3})
BID_QUANTITY = Dimension("a share of the working point or a power", "", {"%": 1.0, "kW": 1e-3, "MW": 1.0, "GW": 1e3})
PRICE_ENERGY = Dimension("a price per energy", "EUR/MWh", {"EUR/MWh": 1.0, "EUR/kWh": 1e3})
PRICE_UNIT_NAMES = {"EUR/MWh": ("EUR/MWh", 1.0), "EUR/kWh": ("EUR/MWh", 1e3),
                    "EUR/Mvarh": ("EUR/Mvarh", 1.0), "EUR/kvarh": ("EUR/Mvarh", 1e3)}
REACTIVE_ENERGY_UNITS = {"Mvarh": 1.0, "kvarh": 1e-3}

ALL_UNITS = sorted({u for d in (POWER, APPARENT_POWER, ENERGY_PER_YEAR, ENERGY, VOLTAGE, CURRENT, LENGTH, PERCENT,
                                PER_UNIT, ANGLE, RESISTANCE_PER_KM, CAPACITANCE_PER_KM) for u in d.factors}
                   | set(PRICE_UNIT_NAMES) | set(REACTIVE_ENERGY_UNITS) | {"Mvar", "kvar"})


def describe_unit(unit: str) -> str:
    """What a unit measures, for "'km' is a length" style messages."""
    for dim in (POWER, APPARENT_POWER, ENERGY_PER_YEAR, ENERGY, VOLTAGE, CURRENT, LENGTH, PERCENT, PER_UNIT, ANGLE,
                RESISTANCE_PER_KM, CAPACITANCE_PER_KM, PRICE_ENERGY):
        if unit in dim.factors:
            return dim.name
    if unit in PRICE_UNIT_NAMES:
        return "a price per reactive energy"
    if unit in REACTIVE_ENERGY_UNITS:
        return "a reactive energy"
    if unit in ("Mvar", "kvar"):
        return "a reactive power"
    return "an unknown unit"
