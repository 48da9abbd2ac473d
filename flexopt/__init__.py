"""flexopt: flexibility of distributed energy resources at the TSO/DSO interface.

Implements the method of Natale, Pilo, Pisano, Soma (Appl. Sci. 2022, 12, 1858):
scenario files (a lark grammar) are validated into frozen dataclasses, compiled
into pandapower networks and typical-day profiles, assessed with AC power flows
and a Pyomo/HiGHS linearised OPF, stored as xarray datasets and reported.
"""

__version__ = "0.1.0"
