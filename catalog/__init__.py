"""nufair catalog: tables, storage, identifiers, metadata crosswalks and the REST API.

Everything that touches SQL lives here (``storage.py``); the layers above call it.
"""
