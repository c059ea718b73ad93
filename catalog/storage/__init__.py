"""Every SQL statement of the catalog, one module per kind of stored fact."""
