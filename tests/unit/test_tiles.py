"""The tlog-tiles layout: paths, which tiles a size has, bundles (hashlist.tiles)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hashlist.merkle import MerkleTree, hash_children
from hashlist.tiles import (
    ENTRIES,
    Tile,
    TileError,
    bundles_for,
    decode_bundle,
    decode_tile,
    encode_bundle,
    encode_index,
    parse_path,
    partial_tiles,
    tiles_between,
)


def test_index_encoding_is_the_specs() -> None:
    assert encode_index(1234067) == "x001/x234/067"
    assert encode_index(0) == "000"
    assert encode_index(999) == "999"
    assert encode_index(1000) == "x001/000"
    assert Tile(0, 1234067, 256).path == "tile/0/x001/x234/067"
    assert Tile(ENTRIES, 5, 7).path == "tile/entries/005.p/7"


def test_the_specs_example_of_a_tree_of_70000() -> None:
    tiles = tiles_between(0, 70_000)
    by_level: dict[int, list[Tile]] = {}
    for t in tiles:
        by_level.setdefault(t.level, []).append(t)
    assert [t.width for t in by_level[0]] == [256] * 273 + [112]
    assert [t.width for t in by_level[ENTRIES]] == [256] * 273 + [112]
    assert [(t.index, t.width) for t in by_level[1]] == [(0, 256), (1, 17)]
    assert [(t.index, t.width) for t in by_level[2]] == [(0, 1)]
    assert set(by_level) == {ENTRIES, 0, 1, 2}


def test_a_tree_of_256_is_a_full_tile_and_a_partial_one_above() -> None:
    assert tiles_between(0, 256) == [Tile(ENTRIES, 0, 256), Tile(0, 0, 256), Tile(1, 0, 1)]
    assert tiles_between(0, 0) == []
    assert tiles_between(5, 5) == []


@given(st.integers(0, 200_000), st.integers(0, 70_000))
def test_growing_in_steps_yields_every_tile_of_the_final_size(old: int, grow: int) -> None:
    new = old + grow
    final = set(tiles_between(0, new))
    written = set(tiles_between(0, old)) | set(tiles_between(old, new))
    assert final <= written
    # and nothing is written twice: a step only adds tiles whose width grew
    assert not set(tiles_between(0, old)) & set(tiles_between(old, new))


@pytest.mark.parametrize("tile", [Tile(0, 0, 256), Tile(3, 1234067, 17), Tile(ENTRIES, 1000, 1)])
def test_paths_round_trip(tile: Tile) -> None:
    assert parse_path(tile.path) == tile


@pytest.mark.parametrize(
    "path",
    ["tile/0/1", "tile/0/x1/000", "tile/64/000", "tile/00/000", "tile/0/000.p/256",
     "tile/0/000.p/0", "tile/0/x000/001", "tile/entries/000.p/012", "../etc/passwd"],
)  # fmt: skip
def test_paths_the_layout_never_produces_are_refused(path: str) -> None:
    with pytest.raises(ValueError, match="is not a tile path"):
        parse_path(path)


def test_bundles_for_a_range_use_the_checkpoints_partial() -> None:
    assert list(bundles_for(250, 300, 300)) == [Tile(ENTRIES, 0, 256), Tile(ENTRIES, 1, 44)]
    assert list(bundles_for(0, 0, 10)) == []
    with pytest.raises(ValueError, match="are not in a log"):
        list(bundles_for(0, 11, 10))


def test_bundles_round_trip_and_refuse_anything_else() -> None:
    entries = [b"", b"a", b"\xff" * 65_535]
    tile = Tile(ENTRIES, 0, 3)
    data = encode_bundle(entries)
    assert decode_bundle(data, tile) == entries
    with pytest.raises(TileError, match="holds 2 entries, not 3"):
        decode_bundle(encode_bundle(entries[:2]), tile)
    with pytest.raises(TileError, match="holds"):
        decode_bundle(data + b"\x00\x00", tile)
    with pytest.raises(TileError, match="past the bundle's end"):
        decode_bundle(data[:-1], tile)
    with pytest.raises(TileError, match="truncated length"):
        decode_bundle(data + b"\x00", Tile(ENTRIES, 0, 4))
    with pytest.raises(ValueError, match="does not fit"):
        encode_bundle([b"x" * 65_536])


def test_hash_tiles_are_the_trees_perfect_subtrees() -> None:
    tree = MerkleTree(bytes([i % 251]) * 32 for i in range(600))
    assert tree.node(0, 599) == tree.leaf_hash(599)
    assert tree.node(1, 0) == hash_children(tree.leaf_hash(0), tree.leaf_hash(1))
    assert hash_children(tree.node(8, 0), tree.node(8, 1)) == tree.root(512)
    with pytest.raises(ValueError, match="no complete subtree"):
        tree.node(8, 2)  # leaves 512..767 are not all there
    assert decode_tile(b"\x01" * 64, Tile(0, 0, 2)) == [b"\x01" * 32] * 2
    with pytest.raises(TileError, match="not 3 hashes"):
        decode_tile(b"\x01" * 64, Tile(0, 0, 3))


def test_partial_tiles_are_the_last_of_each_level() -> None:
    assert partial_tiles(70_000) == [
        Tile(ENTRIES, 273, 112), Tile(0, 273, 112), Tile(1, 1, 17), Tile(2, 0, 1)
    ]  # fmt: skip
    assert partial_tiles(256) == [Tile(1, 0, 1)]
    assert partial_tiles(0) == []
    assert set(partial_tiles(70_000)) == {t for t in tiles_between(0, 70_000) if t.partial}
