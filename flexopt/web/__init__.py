"""The regulators' workbench (``flexopt serve``): a local web app over the same functions as the CLI."""
