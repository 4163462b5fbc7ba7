"""A C2SP tlog-witness for hashlist hubs: ``hashlist witness serve``."""
