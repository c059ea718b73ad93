"""nufair ingest: the realtime pipeline (selection, first guess, scans, publication)."""
