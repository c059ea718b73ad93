"""The FAIR layer: landing pages, DOIs, DataCite, OAI-PMH, DCAT, JSON-LD, signposting."""
