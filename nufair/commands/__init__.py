"""Sub-command groups of the ``nufair`` CLI, one module per area."""
