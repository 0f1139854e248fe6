"""Signals between the pipelines, sent through the crawler's signal manager.

The store and the mirror work per committed batch, not per item, so they talk through
these rather than through the items.
"""

# Sent by the dedupe step: `link` is the same event as the kept `event_link`; the store
# remembers it (event_aliases) and deletes a stored row for `link` once `event_link` is in.
duplicate_found = object()

# Sent by the store after a batch committed: `links` are rows whose content changed
# (new, updated, cancelled or revived), i.e. the rows the shared database lacks.
events_stored = object()
