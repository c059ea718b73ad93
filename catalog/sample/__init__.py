"""Package data: a small real sample of IceCube notices and catalogs (see SOURCES.md)."""
