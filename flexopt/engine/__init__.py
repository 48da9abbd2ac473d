"""Assess stage: batch AC power flow, LOPF remedies and traffic lights for every bid point."""
