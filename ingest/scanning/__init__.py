"""Scans after the first guess: requests, the runner, the files made and the update."""
