"""Package data: official GCN JSON schemas (see SOURCES.md in catalog/schemas_external)."""
