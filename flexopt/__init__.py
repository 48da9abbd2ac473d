"""flexopt: flexibility of distributed energy resources at the TSO/DSO interface.

Implements the method of Natale, Pilo, Pisano, Soma (Appl. Sci. 2022, 12, 1858):
scenario files (a lark grammar) are validated into frozen dataclasses, compiled
into pandapower networks and typical-day profiles, assessed with AC power flows
and a Pyomo/HiGHS linearised OPF, stored as xarray datasets and reported.

The public API (docs/api.md) is loaded on first use, so ``import flexopt`` stays light::

    import flexopt
    scenario = flexopt.load_scenario("scenarios/sardinia_ps.flex")
    ds = flexopt.assess_case(scenario, "A")
"""

__version__ = "0.1.0"

__all__ = ["FlexoptError", "FlexoptWarning", "assess_case", "load_scenario", "open_dataset", "tables", "__version__"]


def __getattr__(name: str):
    if name == "FlexoptError":
        from flexopt.errors import FlexoptError

        return FlexoptError
    if name in ("FlexoptWarning", "assess_case", "load_scenario", "open_dataset", "tables"):
        from flexopt import api

        return getattr(api, name)
    raise AttributeError(f"module 'flexopt' has no attribute {name!r}")
