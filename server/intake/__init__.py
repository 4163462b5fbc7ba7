"""The victim's front door: the public intake service and its static hashing page.

The intake holds no data. It serves the page (``server.intake.page``: static
files that hash on the person's device) and a small JSON API that forwards
cases to the hub over mTLS with an ``intake`` role certificate.
"""
