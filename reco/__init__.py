"""nufair reco: events, detector, likelihood, Dask scan, regions, skymaps and MOCs.

Pure science: arrays in, documented result objects out. No database, no web.

==============================  ==============================================================
``event``, ``detector``         a neutrino event's pulses; the sensors they were recorded on
``coords``                      detector zenith/azimuth ↔ equatorial RA/Dec (astropy)
``physics``, ``likelihood``     the light model; :math:`-\\ln L` of a track and its nuisance fit
``kernel``                      the likelihood's compiled inner loops (Numba)
``estimators``, ``firstguess``  energy proxy, signalness, stream; the first direction
``simulate``                    seeded toy Monte Carlo of muon tracks
``scan``                        the HEALPix scan on Dask (:func:`reco.scan.run_scan`), with
                                ``scan_config``, ``refinement``, ``skyfits``, ``batchfit``
                                and ``cluster``
``cascade``                     the point-like shower hypothesis: its likelihood, fits, scan
                                and simulation; the choice of hypothesis
``result``, ``regions``         the scan's result; its 50 % / 90 % regions and MOCs
``skymap``                      FITS skymaps and the PNG sky plot
==============================  ==============================================================
"""
