"""Compile stage: a case of the scenario -> pandapower feeder nets, interval profiles and bid books."""
