"""HTTP handlers of the catalog and the edge every request passes through."""
