"""The operator's console: a web server on loopback that shows and steers the exchange
through the hub's operator API (the same calls as ``hashlist hub ...``)."""
