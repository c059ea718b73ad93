"""Package data: the counterpart catalogue registry and its bundled files (see SOURCES.md)."""
