"""hashlist: a federated, verifiable hash-list exchange.

This package is the core the hub, the nodes and the auditors share: signals,
canonical deltas, the RFC 6962 log, C2SP signed notes and checkpoints, the
LtHash16 state digest, the trust root and pure verification. Nothing here
does network or database IO.
"""

__version__ = "0.1.0"
