"""nufair reco: events, detector, likelihood, Dask scan, regions, skymaps and MOCs.

Pure science: arrays in, documented result objects out. No database, no web.
"""
