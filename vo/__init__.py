"""nufair vo: IVOA protocols (TAP, ADQL, ConeSearch, DataLink) over catalog storage."""
