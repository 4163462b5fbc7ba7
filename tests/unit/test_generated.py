"""The committed protobuf modules are exactly what the generator makes from the .proto."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{ROOT}",
            f"--python_out={tmp_path}",
            f"--mypy_out={tmp_path}",
            f"--grpc_python_out={tmp_path}",
            f"--mypy_grpc_out={tmp_path}",
            str(ROOT / "hashlist/v1/hashlist.proto"),
        ],
        check=True,
        capture_output=True,
        env={"PATH": str(Path(sys.executable).parent)},
    )
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert generated, "protoc produced nothing"
    committed = sorted(
        p.relative_to(ROOT)
        for p in (ROOT / "hashlist/v1").iterdir()
        if p.name != "__init__.py" and p.is_file() and p.suffix not in (".pyc", ".proto")
    )
    assert committed == generated, (
        "hashlist/v1 has files the generator does not make, or lacks some"
    )
    for rel in generated:
        assert (ROOT / rel).read_bytes() == (tmp_path / rel).read_bytes(), (
            f"{rel} differs from the generator's output: run scripts/gen_proto.sh"
        )
