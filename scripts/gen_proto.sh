#!/usr/bin/env bash
# Regenerate hashlist/v1/ from proto/. The output is committed; a test runs
# this into a temporary folder and fails on any difference.
set -euo pipefail
out="${1:-.}"
cd "$(dirname "$0")/.."
python -m grpc_tools.protoc -Iproto \
    --python_out="$out" --mypy_out="$out" \
    --grpc_python_out="$out" --mypy_grpc_out="$out" \
    proto/hashlist/v1/hashlist.proto
