"""Store and report stage: the dataset schema, netCDF files, Tables 3 and 4, figures and report.html.

Reads datasets only; nothing here imports Pyomo or the engine at run time.
"""
