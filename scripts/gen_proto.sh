#!/usr/bin/env bash
# Regenerate hashlist/v1/ from hashlist/v1/hashlist.proto (the source, shipped in the
# package). The output is committed; a test runs
# this into a temporary folder and fails on any difference.
set -euo pipefail
out="${1:-.}"
cd "$(dirname "$0")/.."
python -m grpc_tools.protoc -I. \
    --python_out="$out" --mypy_out="$out" \
    --grpc_python_out="$out" --mypy_grpc_out="$out" \
    hashlist/v1/hashlist.proto
