"""nufair wiring: settings, app factory and the command line. Nothing imports this package."""

__version__ = "0.1.0"
