"""The independent tlog-tiles reader, against a small writer written here from the spec.

The writer below shares no code with the reader (tests/tiles_reader.py) nor with the
project: it lays out bundles and tiles from C2SP tlog-tiles and computes roots with
a plain RFC 6962 recursion over all leaf hashes. Published vectors (RFC 6962 roots
from the Certificate Transparency test data, the Go sumdb/note example note) anchor
both sides to something neither wrote.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.tiles_reader import (
    TilesError,
    encode_index,
    main,
    open_note,
    parse_verifier_key,
    read_tiles,
    tile_levels,
    tiles_at_level,
)

ORIGIN = "hub.example/lists/test"
KEY_NAME = "hub.example/lists/test"
READER = Path(__file__).resolve().parents[1] / "tiles_reader.py"

# --- the test's own writer (C2SP tlog-tiles, RFC 6962 section 2.1) --------------


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _mth(hashes: list[bytes]) -> bytes:
    """RFC 6962 MTH over already-hashed leaves."""
    if not hashes:
        return _sha(b"")
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return _sha(b"\x01" + _mth(hashes[:k]) + _mth(hashes[k:]))


def _index(n: int) -> str:
    groups = []
    while True:
        n, low = divmod(n, 1000)
        groups.append(low)
        if n == 0:
            break
    groups.reverse()
    last = len(groups) - 1
    return "/".join(("%03d" if i == last else "x%03d") % g for i, g in enumerate(groups))


def _name(kind: str, n: int, width: int) -> str:
    return f"tile/{kind}/{_index(n)}" + ("" if width == 256 else f".p/{width}")


def _write_tiles(entries: list[bytes]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for start in range(0, len(entries), 256):
        chunk = entries[start : start + 256]
        files[_name("entries", start // 256, len(chunk))] = b"".join(
            len(e).to_bytes(2, "big") + e for e in chunk
        )
    layer = [_sha(b"\x00" + e) for e in entries]
    level = 0
    while layer:
        for start in range(0, len(layer), 256):
            chunk = layer[start : start + 256]
            files[_name(str(level), start // 256, len(chunk))] = b"".join(chunk)
        # Only full tiles are hashed into the level above.
        layer = [_mth(layer[s : s + 256]) for s in range(0, len(layer) - 255, 256)]
        level += 1
    return files


class Signer:
    def __init__(self, name: str = KEY_NAME) -> None:
        self.name = name
        self.key = Ed25519PrivateKey.generate()
        public = self.key.public_key().public_bytes_raw()
        self.key_id = _sha(name.encode() + b"\n\x01" + public)[:4]
        encoded = base64.b64encode(b"\x01" + public).decode()
        self.verifier = f"{name}+{self.key_id.hex()}+{encoded}"

    def line(self, body: bytes) -> bytes:
        blob = base64.b64encode(self.key_id + self.key.sign(body))
        return "\u2014 ".encode() + self.name.encode() + b" " + blob + b"\n"

    def sign(self, body: bytes, *extra_lines: bytes) -> bytes:
        return body + b"\n" + self.line(body) + b"".join(extra_lines)


def _body(size: int, root: bytes, origin: str = ORIGIN) -> bytes:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n".encode()


def _entries(size: int) -> list[bytes]:
    # Varied lengths, including the empty entry, so the length prefixes matter.
    return [i.to_bytes(4, "big")[: i % 5] + b"e" * (i % 3) for i in range(size)]


@cache
def _log(size: int) -> tuple[dict[str, bytes], Signer, list[bytes]]:
    entries = _entries(size)
    files = _write_tiles(entries)
    signer = Signer()
    leaves = [_sha(b"\x00" + e) for e in entries]
    files["checkpoint"] = signer.sign(_body(size, _mth(leaves)))
    return files, signer, entries


def _fetcher(files: dict[str, bytes]) -> Callable[[str], bytes]:
    def fetch(path: str) -> bytes:
        if path not in files:
            raise FileNotFoundError(path)
        return files[path]

    return fetch


def _read(files: dict[str, bytes], signer: Signer, origin: str = ORIGIN) -> int:
    return read_tiles(_fetcher(files), origin=origin, log_key=signer.verifier).size


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


# --- paths and layout, from the spec's own examples -----------------------------


def test_index_encoding_follows_the_spec() -> None:
    assert encode_index(0) == "000"
    assert encode_index(7) == "007"
    assert encode_index(999) == "999"
    assert encode_index(1000) == "x001/000"
    assert encode_index(1234067) == "x001/x234/067"
    for n in (0, 5, 255, 256, 1000, 65536, 1234067, 10**9):
        assert encode_index(n) == _index(n)


def test_layout_of_the_specs_example_sizes() -> None:
    # "a tree of size 70,000 will be represented by 273 full level 0 tiles, one
    # partial level 0 tile of width 112, one full level 1 tile, one partial level 1
    # tile of width 17, and one partial level 2 tile of width 1."
    assert tiles_at_level(70_000, 0) == [*((n, 256) for n in range(273)), (273, 112)]
    assert tiles_at_level(70_000, 1) == [(0, 256), (1, 17)]
    assert tiles_at_level(70_000, 2) == [(0, 1)]
    assert tile_levels(70_000) == 3
    # "a tree of size 256 will be represented by a full level 0 tile and a partial
    # level 1 tile of width 1."
    assert tiles_at_level(256, 0) == [(0, 256)]
    assert tiles_at_level(256, 1) == [(0, 1)]
    assert tile_levels(256) == 2
    assert tile_levels(0) == 0


def test_the_writer_lays_out_the_same_paths() -> None:
    files, _, _ = _log(300)
    entries = ["tile/entries/000", "tile/entries/001.p/44"]
    tiles = ["tile/0/000", "tile/0/001.p/44", "tile/1/000.p/1"]
    assert sorted(files) == sorted(["checkpoint", *entries, *tiles])


# --- published vectors ------------------------------------------------------------

# Certificate Transparency's RFC 6962 test data: the leaves and the root per size.
CT_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657"]
CT_LEAVES.append("606162636465666768696a6b6c6d6e6f")
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_the_rfc6962_vectors(size: int) -> None:
    entries = [bytes.fromhex(h) for h in CT_LEAVES[:size]]
    root = bytes.fromhex(CT_ROOTS[size - 1])
    signer = Signer()
    files = _write_tiles(entries)
    files["checkpoint"] = signer.sign(_body(size, root))
    log = read_tiles(_fetcher(files), origin=ORIGIN, log_key=signer.verifier)
    assert (log.size, log.root, log.entries) == (size, root, entries)


GO_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    b"If you think cryptography is the answer to your problem,\n"
    b"then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n\u2014 PeterNeumann ".encode() + b"x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZ"
    b"InNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_the_go_sumdb_note_example_verifies() -> None:
    assert open_note(GO_NOTE, GO_KEY) == GO_TEXT
    with pytest.raises(TilesError, match="does not verify"):
        open_note(GO_NOTE.replace(b"cryptography", b"cryptographY"), GO_KEY)


def test_verifier_keys_whose_base64_holds_a_plus() -> None:
    # transparency-dev/formats' test key, whose base64 contains '+'.
    key = parse_verifier_key("TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6")
    assert (key.name, key.key_id.hex()) == ("TEST", "7997405c")
    with pytest.raises(TilesError, match="key ID"):
        parse_verifier_key("TEST+7997405d+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6")


# --- accepting what the spec lays out ------------------------------------------

# 0: no tiles. 1, 255: one partial level-0 tile. 256: a full level-0 tile and a
# partial level-1 tile of width 1. 257, 600: level-0 partials under a partial
# level 1. 65536: a full level-1 tile, no partial below it, a level-2 partial.
# 65536 + 3*256 + 5: partials at levels 0, 1 and 2 with a full level-1 tile.
SIZES = [0, 1, 255, 256, 257, 600, 65_536, 65_536 + 3 * 256 + 5]


@pytest.mark.parametrize("size", SIZES)
def test_accepts_a_well_formed_log(size: int) -> None:
    files, signer, entries = _log(size)
    log = read_tiles(_fetcher(files), origin=ORIGIN, log_key=signer.verifier)
    assert log.size == size
    assert log.entries == entries
    assert log.root == _mth([_sha(b"\x00" + e) for e in entries])


def test_other_signature_lines_are_ignored() -> None:
    files, signer, _ = _log(600)
    body = files["checkpoint"].split(b"\n\n")[0] + b"\n"
    witness = Signer("witness.example/w1")
    same_name_other_key = Signer(KEY_NAME)
    note = signer.sign(body, witness.line(body), same_name_other_key.line(b"anything"))
    assert _read({**files, "checkpoint": note}, signer) == 600


# --- rejecting ---------------------------------------------------------------------


def _rejects(files: dict[str, bytes], signer: Signer, *fragments: str, **kw: str) -> None:
    with pytest.raises(TilesError) as caught:
        _read(files, signer, **kw)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_rejects_a_flipped_byte_in_an_entry() -> None:
    files, signer, _ = _log(600)
    bundle = files["tile/entries/001"]
    assert bundle[:2] == b"\x00\x02"  # entry 256 is two bytes long
    _rejects({**files, "tile/entries/001": _flip(bundle, 3)}, signer, "tile/0/001", "entries")


def test_rejects_a_flipped_byte_in_the_partial_bundle() -> None:
    files, signer, _ = _log(600)
    path = "tile/entries/002.p/88"
    _rejects({**files, path: _flip(files[path], len(files[path]) - 1)}, signer, "tile/0/002.p/88")


def test_rejects_a_wrong_level0_hash() -> None:
    files, signer, _ = _log(600)
    _rejects({**files, "tile/0/000": _flip(files["tile/0/000"], 100)}, signer, "tile/0/000")


def test_rejects_a_wrong_level1_hash() -> None:
    files, signer, _ = _log(600)
    path = "tile/1/000.p/2"
    _rejects({**files, path: _flip(files[path], 40)}, signer, path, "tile/0/001")


def test_rejects_a_wrong_hash_in_a_full_level1_tile() -> None:
    files, signer, _ = _log(65_536 + 3 * 256 + 5)
    path = "tile/1/000"
    _rejects({**files, path: _flip(files[path], 32 * 200)}, signer, path, "tile/0/200")


def test_rejects_a_wrong_level2_hash() -> None:
    files, signer, _ = _log(65_536)
    path = "tile/2/000.p/1"
    _rejects({**files, path: _flip(files[path], 0)}, signer, path, "tile/1/000")


def test_rejects_a_wrong_signature() -> None:
    files, signer, _ = _log(600)
    body, line = files["checkpoint"].rstrip(b"\n").rsplit(b"\n", 1)
    dash, name, blob = line.split(b" ")
    bad = base64.b64encode(_flip(base64.b64decode(blob), 40))
    note = body + b"\n" + b" ".join([dash, name, bad]) + b"\n"
    _rejects({**files, "checkpoint": note}, signer, "does not verify")


def test_rejects_a_checkpoint_signed_by_another_key() -> None:
    files, _, _ = _log(600)
    _rejects(files, Signer(), "no signature by the log key")


def test_rejects_a_signed_checkpoint_whose_root_does_not_match() -> None:
    files, signer, _ = _log(600)
    note = signer.sign(_body(600, b"\x07" * 32))
    _rejects({**files, "checkpoint": note}, signer, "checkpoint", "root")


def test_rejects_a_checkpoint_for_a_size_the_tiles_do_not_hold() -> None:
    files, signer, _ = _log(600)
    root = _mth([_sha(b"\x00" + e) for e in _entries(599)])
    note = signer.sign(_body(599, root))
    _rejects({**files, "checkpoint": note}, signer, "tile/entries/002.p/87", "missing")


@pytest.mark.parametrize(
    "path", ["tile/entries/001", "tile/0/002.p/88", "tile/1/000.p/2", "checkpoint"]
)
def test_rejects_a_missing_file(path: str) -> None:
    files, signer, _ = _log(600)
    _rejects({k: v for k, v in files.items() if k != path}, signer, path, "missing")


def test_rejects_a_log_without_its_higher_partial_tile() -> None:
    files, signer, _ = _log(256)
    _rejects({k: v for k, v in files.items() if k != "tile/1/000.p/1"}, signer, "tile/1/000.p/1")


def test_rejects_a_bundle_with_an_entry_too_many_or_too_few() -> None:
    files, signer, _ = _log(600)
    path = "tile/entries/002.p/88"
    _rejects({**files, path: files[path] + b"\x00\x01z"}, signer, path, "more than the 88")
    shorter = b"".join(len(e).to_bytes(2, "big") + e for e in _entries(600)[512:599])
    _rejects({**files, path: shorter}, signer, path, "87 entries")
    _rejects({**files, path: files[path][:-1]}, signer, path, "past the end")


def test_rejects_a_tile_of_the_wrong_length() -> None:
    files, signer, _ = _log(600)
    path = "tile/0/002.p/88"
    _rejects({**files, path: files[path][:-32]}, signer, path, "bytes")


def test_rejects_the_wrong_origin() -> None:
    files, signer, _ = _log(1)
    _rejects(files, signer, "origin", origin="hub.example/lists/other")


@pytest.mark.parametrize(
    "body",
    [
        b"hub.example/lists/test\n0600\nAAAA\n",
        b"hub.example/lists/test\n600\n" + base64.b64encode(b"\0" * 31) + b"\n",
        b"hub.example/lists/test\n600\n" + base64.b64encode(b"\0" * 32) + b"\nextension\n",
        b"hub.example/lists/test\n+600\n" + base64.b64encode(b"\0" * 32) + b"\n",
    ],
)
def test_rejects_a_malformed_signed_checkpoint(body: bytes) -> None:
    files, signer, _ = _log(600)
    _rejects({**files, "checkpoint": signer.sign(body)}, signer, "checkpoint")


def test_rejects_a_note_with_a_control_character() -> None:
    files, signer, _ = _log(1)
    body = files["checkpoint"].split(b"\n\n")[0] + b"\n"
    note = signer.sign(body.replace(b"test\n", b"te\rst\n", 1))
    _rejects({**files, "checkpoint": note}, signer, "control character")


# --- the command line ----------------------------------------------------------------


def _write_dir(directory: Path, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def test_command_line_reads_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files, signer, entries = _log(600)
    _write_dir(tmp_path, files)
    root = base64.b64encode(_mth([_sha(b"\x00" + e) for e in entries])).decode()
    assert main([str(tmp_path), "--origin", ORIGIN, "--key", signer.verifier]) == 0
    assert capsys.readouterr().out == f"ok: 600 entries, root {root}\n"
    (tmp_path / "tile/1/000.p/2").unlink()
    assert main([str(tmp_path), "--origin", ORIGIN, "--key", signer.verifier]) == 1
    assert "tile/1/000.p/2: missing" in capsys.readouterr().err


def test_command_line_runs_as_a_script(tmp_path: Path) -> None:
    files, signer, _ = _log(257)
    _write_dir(tmp_path, files)
    done = subprocess.run(
        [sys.executable, str(READER), str(tmp_path), "--origin", ORIGIN, "--key", signer.verifier],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: 257 entries, root ")
