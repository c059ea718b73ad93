"""HTTP handlers of the realtime pipeline: raw events, retractions, notices, scans."""
