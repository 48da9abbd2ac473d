"""Language stage: scenario text -> syntax tree (lark) -> validated :class:`flexopt.model.Scenario`."""
