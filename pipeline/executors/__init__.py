"""Executors turn planned jobs into outcomes (bytes + metrics). They never write: the driver does."""
