"""The compiled inner loops of ``node.mih`` (numba, GIL released, cached on disk).

Everything here works on plain arrays; ``node.mih`` owns the layout and its
invariants. All bit arithmetic is done in uint64: numba would silently turn a
uint64/int64 mix into float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

_ONE = np.uint64(1)
_TWO = np.uint64(2)
_SIX = np.uint64(6)
_63 = np.uint64(63)
_64 = np.uint64(64)
_AHEAD = 24


@intrinsic
def _prefetch(typingctx: Any, array: Any, index: Any) -> Any:
    """LLVM's prefetch of ``array.flat[index]`` for reading, into all cache levels."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        array_type = signature.args[0]
        view = context.make_array(array_type)(context, builder, args[0])
        flat = builder.bitcast(cgutils.gep_inbounds(builder, view.data, args[1]), cgutils.voidptr_t)
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [cgutils.voidptr_t, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [flat, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(array, index), codegen


@intrinsic
def _popcount(typingctx: Any, x: Any) -> Any:
    """LLVM's ctpop: one POPCNT instruction on this machine."""
    if not isinstance(x, types.Integer):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.ctpop(args[0])

    return x(x), codegen


@njit(inline="always", nogil=True, cache=True)
def _key(row: Any, offset: np.uint64, width: np.uint64) -> np.uint64:
    word = offset >> _SIX
    shift = offset & _63
    v = row[word] >> shift
    if shift + width > _64:
        v |= row[word + _ONE] << (_64 - shift)
    return v & ((_ONE << width) - _ONE)  # type: ignore[no-any-return]


@njit(inline="always", nogil=True, cache=True)
def _distance(a: Any, b: Any) -> np.uint64:
    d = np.uint64(0)
    for w in range(a.shape[0]):
        d += _popcount(a[w] ^ b[w])
    return d


@njit(inline="always", nogil=True, cache=True)
def _append(ids: Any, dist: Any, count: int, i: int, d: int) -> tuple[Any, Any]:
    if count == ids.shape[0]:
        bigger_ids = np.empty(2 * count, np.int64)
        bigger_dist = np.empty(2 * count, np.int64)
        bigger_ids[:count] = ids
        bigger_dist[:count] = dist
        ids, dist = bigger_ids, bigger_dist
    ids[count] = i
    dist[count] = d
    return ids, dist


@njit(nogil=True, cache=True)
def build_tables(
    codes: Any, offsets: Any, widths: Any, dir_bits: Any, dir_base: Any,
    directory: Any, ids: Any, low: Any,
) -> None:  # fmt: skip
    n = codes.shape[0]
    keys = np.empty(n, np.uint64)
    for t in range(offsets.shape[0]):
        off, width = np.uint64(offsets[t]), np.uint64(widths[t])
        low_bits = np.uint64(widths[t] - dir_bits[t])
        low_mask = (_ONE << low_bits) - _ONE
        base, slots, table = dir_base[t], 1 << dir_bits[t], t * n
        for i in range(n):
            keys[i] = _key(codes[i], off, width)
            directory[base + np.int64(keys[i] >> low_bits) + 1] += 1
        for d in range(slots):
            directory[base + d + 1] += directory[base + d]
        cursor = directory[base : base + slots].astype(np.int64)
        for i in range(n):
            hi = np.int64(keys[i] >> low_bits)
            pos = cursor[hi]
            cursor[hi] = pos + 1
            ids[table + pos] = i
            low[table + pos] = keys[i] & low_mask


@njit(nogil=True, cache=True)
def search_segment(
    codes: Any, alive: Any, offsets: Any, widths: Any, radii: Any, dir_bits: Any,
    dir_base: Any, directory: Any, ids: Any, low: Any, probes: int, query: Any, radius: int,
) -> tuple[Any, Any]:  # fmt: skip
    # Four passes over arrays instead of one nested loop: each pass's loads
    # are independent of each other and prefetched _AHEAD iterations early,
    # so many cache misses are in flight at once (2-4x on this machine).
    n = codes.shape[0]
    slot = np.empty(probes, np.int64)
    want = np.empty(probes, np.uint64)
    table = np.empty(probes, np.int64)
    p = 0
    for t in range(offsets.shape[0]):
        width = np.uint64(widths[t])
        low_bits = np.uint64(widths[t] - dir_bits[t])
        low_mask = (_ONE << low_bits) - _ONE
        qkey = _key(query, np.uint64(offsets[t]), width)
        end_mask = _ONE << width
        for k in range(radii[t] + 1):
            mask = (_ONE << np.uint64(k)) - _ONE
            while mask < end_mask:
                probe = qkey ^ mask
                slot[p] = dir_base[t] + np.int64(probe >> low_bits)
                want[p] = probe & low_mask
                table[p] = t * n
                p += 1
                if k == 0:
                    break
                # Gosper's hack: the next mask with the same number of bits.
                c = mask & (~mask + _ONE)
                r = mask + c
                mask = (((r ^ mask) >> _TWO) // c) | r
    start = np.empty(p, np.int64)
    stop = np.empty(p, np.int64)
    for i in range(p):
        if i + _AHEAD < p:
            _prefetch(directory, slot[i + _AHEAD])
        start[i] = table[i] + directory[slot[i]]
        stop[i] = table[i] + directory[slot[i] + 1]
    candidates = np.empty(64, np.int64)
    found = 0
    for i in range(p):
        if i + _AHEAD < p:
            _prefetch(low, start[i + _AHEAD])
            _prefetch(ids, start[i + _AHEAD])
        for j in range(start[i], stop[i]):
            if low[j] == want[i]:
                if found == candidates.shape[0]:
                    bigger = np.empty(2 * found, np.int64)
                    bigger[:found] = candidates
                    candidates = bigger
                candidates[found] = ids[j]
                found += 1
    hits = np.empty(8, np.int64)
    dist = np.empty(8, np.int64)
    count = 0
    limit = np.uint64(radius)
    for i in range(found):
        if i + _AHEAD < found:
            _prefetch(codes, candidates[i + _AHEAD] * codes.shape[1])
        e = candidates[i]
        d = _distance(codes[e], query)
        if d <= limit and alive[e]:
            seen = False
            for c in range(count):
                if hits[c] == e:
                    seen = True
                    break
            if not seen:
                hits, dist = _append(hits, dist, count, e, np.int64(d))
                count += 1
    return hits[:count], dist[:count]


@njit(nogil=True, cache=True)
def scan_codes(codes: Any, alive: Any, count: int, query: Any, radius: int) -> tuple[Any, Any]:
    found = np.empty(8, np.int64)
    dist = np.empty(8, np.int64)
    hits = 0
    limit = np.uint64(radius)
    for i in range(count):
        if alive[i]:
            d = _distance(codes[i], query)
            if d <= limit:
                found, dist = _append(found, dist, hits, i, np.int64(d))
                hits += 1
    return found[:hits], dist[:hits]
