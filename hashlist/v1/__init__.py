"""Generated protobuf and gRPC modules (scripts/gen_proto.sh). Never edit by hand.

Only servicers and clients at the edge import these; the domain below them
works on frozen dataclasses.
"""
