"""TAP asynchronous jobs (UWS 1.1): tables, storage, rules and the HTTP face."""
