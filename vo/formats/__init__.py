"""How VO results are written: VOTable, CSV/TSV, PostgreSQL-encoded streams, COPY data."""
