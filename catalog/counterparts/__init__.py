"""Counterpart candidates of neutrino alerts: known sources inside an alert's region.

A catalogue (Fermi-LAT 4FGL-DR4 to begin with) is an entry of the registry
(:mod:`catalog.counterparts.registry`, ``data/catalogues.json``): which file, which table,
which columns hold the name, position, error ellipse, class and association. The loader
(:mod:`catalog.counterparts.loader`) builds the table from the entry; the matching
(:mod:`catalog.storage.counterparts`) reads the entry. A second catalogue is a second entry.
"""
