"""The compiled inner loops of ``node.mih`` (numba, GIL released, cached on disk).

Everything here works on plain arrays; ``node.mih`` owns the layout and its
invariants. All bit arithmetic is done in uint64 (or uint32 for table
entries): numba would silently turn a uint64/int64 mix into float64.

A search runs in four passes over flat arrays rather than one nested loop:
probes (directory slots to visit), ranges (directory reads), scan (bucket
entries filtered on their low key bits) and verify (full distances). Each
pass's loads are independent of each other and prefetched ``_AHEAD``
iterations early, so many cache misses are in flight at once: at ten
million codes a lookup is bound by memory latency, not by arithmetic.
"""

from __future__ import annotations

from typing import Any

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils, config
from numba.extending import intrinsic

_ONE = np.uint64(1)
_SIX = np.uint64(6)
_63 = np.uint64(63)
_64 = np.uint64(64)
_AHEAD = 32
LANES = 16
"""Entries one ``_filter16`` reads: a table's entry array has this many spare at its end."""


def _avx512() -> bool:
    """Whether numba compiles for a CPU with AVX-512F (it honours NUMBA_CPU_FEATURES)."""
    features = getattr(config, "CPU_FEATURES", None)
    if features is None:
        features = llvm.get_host_cpu_features().flatten()
    return "+avx512f" in str(features).split(",")


_AVX512 = _avx512()


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


@intrinsic
def _filter16(
    typingctx: Any, entries: Any, start: Any, stop: Any, want: Any, budget: Any,
    id_bits: Any, out: Any, found: Any,
) -> Any:  # fmt: skip
    """Append to ``out[found:]`` the id of each of ``entries[start:min(stop, start + 16)]``
    whose key bits (above ``id_bits``) are within ``budget`` bits of ``want``; returns the
    new ``found``. One vector compare and compress (AVX-512), or LLVM's scalar expansion
    of a compress-store on CPUs without it. Reads 16 entries whatever
    ``stop`` is, and may write 16 past ``found``: both arrays need that much room.
    Exact on any CPU; fast where LLVM has vector instructions for it."""
    u32, i64 = types.uint32, types.int64
    sig = i64(entries, i64, i64, u32, u32, u32, out, i64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ents, s, e, want_, budget_, shift, out_, found_ = args
        i1, i32 = ir.IntType(1), ir.IntType(32)
        vec, mask_type = ir.VectorType(i32, LANES), ir.VectorType(i1, LANES)

        def splat(x: Any) -> Any:
            one = builder.insert_element(ir.Constant(vec, ir.Undefined), x, i32(0))
            return builder.shuffle_vector(one, one, ir.Constant(vec, [0] * LANES))

        src = context.make_array(signature.args[0])(context, builder, ents)
        dst = context.make_array(signature.args[6])(context, builder, out_)
        pointer = builder.bitcast(cgutils.gep(builder, src.data, s), vec.as_pointer())
        x = builder.load(pointer, align=4)
        lanes = builder.icmp_unsigned(
            "<", ir.Constant(vec, list(range(LANES))), splat(builder.trunc(builder.sub(e, s), i32))
        )
        ctpop = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vec, [vec]), "llvm.ctpop.v16i32"
        )
        near = builder.call(ctpop, [builder.xor(builder.lshr(x, splat(shift)), splat(want_))])
        keep = builder.and_(builder.icmp_unsigned("<=", near, splat(budget_)), lanes)
        ids = builder.and_(x, splat(builder.sub(builder.shl(i32(1), shift), i32(1))))
        at = cgutils.gep(builder, dst.data, found_)
        if _AVX512:
            # Compress in a register, then one plain store: the compress-to-memory form
            # is microcoded (tens of times slower) on some AVX-512 CPUs (AMD Zen 4).
            compress = cgutils.get_or_insert_function(
                builder.module,
                ir.FunctionType(vec, [vec, mask_type, vec]),
                "llvm.experimental.vector.compress.v16i32",
            )
            packed = builder.call(compress, [ids, keep, ir.Constant(vec, ir.Undefined)])
            builder.store(packed, builder.bitcast(at, vec.as_pointer()), align=4)
        else:  # LLVM's scalar expansion of this one beats its expansion of the above
            store = cgutils.get_or_insert_function(
                builder.module,
                ir.FunctionType(ir.VoidType(), [vec, i32.as_pointer(), mask_type]),
                "llvm.masked.compressstore.v16i32",
            )
            builder.call(store, [ids, at, keep])
        kept = builder.ctpop(builder.bitcast(keep, ir.IntType(LANES)))
        return builder.add(found_, builder.zext(kept, ir.IntType(64)))

    return sig, codegen


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


@njit(nogil=True, cache=True)
def build_table(
    codes: Any, offset: int, width: int, dir_bits: int, id_bits: int,
    directory: Any, entries: Any,
) -> None:  # fmt: skip
    """One substring table: ``directory`` (2**dir_bits + 1 zeros on entry) becomes the
    bucket offsets into ``entries`` (len(codes)), bucketed by the key's top ``dir_bits``;
    each entry is the key's low bits above the code's id (``id_bits``)."""
    n = codes.shape[0]
    off, w = np.uint64(offset), np.uint64(width)
    low_bits = np.uint64(width - dir_bits)
    low_mask = (_ONE << low_bits) - _ONE
    for i in range(n):
        directory[np.int64(_key(codes[i], off, w) >> low_bits) + 1] += 1
    for d in range(1 << dir_bits):
        directory[d + 1] += directory[d]
    cursor = directory[: 1 << dir_bits].astype(np.int64)
    shift = np.uint64(id_bits)
    for i in range(n):
        key = _key(codes[i], off, w)
        hi = np.int64(key >> low_bits)
        entries[cursor[hi]] = np.uint32(((key & low_mask) << shift) | np.uint64(i))
        cursor[hi] += 1


@njit(nogil=True, cache=True)
def _search(
    codes: Any, alive: Any, offsets: Any, widths: Any, dir_bits: Any, dir_base: Any,
    directory: Any, entries: Any, id_bits: int, mask_base: Any, masks: Any,
    thresholds: Any, counts: Any, query: Any, radius: int, scratch: Any, candidates: Any,
) -> tuple[Any, Any, Any]:  # fmt: skip
    """Ids (ascending) and distances of alive codes within ``radius`` of ``query``, and the
    candidate buffer (``candidates`` or a bigger one that replaced it)."""
    n = codes.shape[0]
    slot, base, want, budget, start, stop = scratch
    # Probes: for table t, every directory slot within thresholds[t] bits of the query's
    # top key bits (masks ordered by weight, so a lower threshold uses a prefix), with
    # the bits left over for the entries' low key bits in that bucket.
    p = 0
    for t in range(offsets.shape[0]):
        if thresholds[t] < 0:
            continue
        low_bits = np.uint64(widths[t] - dir_bits[t])
        qkey = _key(query, np.uint64(offsets[t]), np.uint64(widths[t]))
        qhi, qlo = qkey >> low_bits, np.uint32(qkey & ((_ONE << low_bits) - _ONE))
        for k in range(mask_base[t], mask_base[t] + counts[t]):
            slot[p] = dir_base[t] + np.int64(qhi ^ np.uint64(masks[k]))
            base[p] = t * n
            want[p] = qlo
            budget[p] = np.uint32(thresholds[t] - _popcount(masks[k]))
            p += 1
    total = 0
    for i in range(p):
        if i + _AHEAD < p:
            _prefetch(directory, slot[i + _AHEAD])
        start[i] = base[i] + np.int64(directory[slot[i]])
        stop[i] = base[i] + np.int64(directory[slot[i] + 1])
        total += stop[i] - start[i]
    if candidates.shape[0] < total + LANES:
        candidates = np.empty(2 * total + LANES, np.uint32)
    found = 0
    shift = np.uint32(id_bits)
    for i in range(p):
        if i + _AHEAD < p:
            _prefetch(entries, start[i + _AHEAD])
            _prefetch(entries, max(stop[i + _AHEAD] - 1, start[i + _AHEAD]))
        s, e = start[i], stop[i]
        while s < e:
            found = _filter16(entries, s, e, want[i], budget[i], shift, candidates, found)
            s += LANES
    # Verify on all bits; a code found through several tables is kept once.
    limit = np.uint64(radius)
    kept = 0
    for i in range(found):
        if i + _AHEAD < found:
            _prefetch(codes, np.int64(candidates[i + _AHEAD]) * codes.shape[1])
        c = candidates[i]
        candidates[kept] = c  # kept <= i: compacts in place
        kept += _distance(codes[c], query) <= limit
    near = np.sort(candidates[:kept])
    hits = np.empty(kept, np.int64)
    dist = np.empty(kept, np.int64)
    count = 0
    for i in range(kept):
        c = np.int64(near[i])
        if (i == 0 or near[i] != near[i - 1]) and alive[c]:
            hits[count] = c
            dist[count] = np.int64(_distance(codes[c], query))
            count += 1
    return hits[:count], dist[:count], candidates


@njit(nogil=True, cache=True)
def _scratch(probes: int) -> Any:
    return (
        np.empty(probes, np.int64), np.empty(probes, np.int64), np.empty(probes, np.uint32),
        np.empty(probes, np.uint32), np.empty(probes, np.int64), np.empty(probes, np.int64),
    )  # fmt: skip


@njit(nogil=True, cache=True)
def search_segment(
    codes: Any, alive: Any, offsets: Any, widths: Any, dir_bits: Any, dir_base: Any,
    directory: Any, entries: Any, id_bits: int, mask_base: Any, masks: Any,
    thresholds: Any, counts: Any, query: Any, radius: int,
) -> tuple[Any, Any]:  # fmt: skip
    """One query: ids and distances of the alive codes within ``radius``."""
    hits, dist, _ = _search(
        codes, alive, offsets, widths, dir_bits, dir_base, directory, entries, id_bits,
        mask_base, masks, thresholds, counts, query, radius, _scratch(counts.sum()),
        np.empty(1024, np.uint32),
    )  # fmt: skip
    return hits, dist


@njit(inline="always", nogil=True, cache=True)
def _grow(out: Any, need: int) -> Any:
    if need <= out.shape[0]:
        return out
    bigger = np.empty(max(need, 2 * out.shape[0]), out.dtype)
    bigger[: out.shape[0]] = out
    return bigger


@njit(nogil=True, cache=True)
def search_segment_many(
    codes: Any, alive: Any, offsets: Any, widths: Any, dir_bits: Any, dir_base: Any,
    directory: Any, entries: Any, id_bits: int, mask_base: Any, masks: Any,
    thresholds: Any, counts: Any, queries: Any, radius: int,
) -> tuple[Any, Any, Any]:  # fmt: skip
    """``search_segment`` for each row of ``queries`` in one call: the hits of query
    ``q`` are ``ids[bounds[q]:bounds[q + 1]]`` (and ``dist`` likewise)."""
    scratch = _scratch(counts.sum())
    candidates = np.empty(1024, np.uint32)
    bounds = np.zeros(queries.shape[0] + 1, np.int64)
    ids = np.empty(64, np.int64)
    dist = np.empty(64, np.int64)
    for q in range(queries.shape[0]):
        hits, d, candidates = _search(
            codes, alive, offsets, widths, dir_bits, dir_base, directory, entries, id_bits,
            mask_base, masks, thresholds, counts, queries[q], radius, scratch, candidates,
        )  # fmt: skip
        ids, dist = _collect(ids, dist, bounds, q, hits, d)
    return bounds, ids[: bounds[-1]], dist[: bounds[-1]]


@njit(inline="always", nogil=True, cache=True)
def _collect(ids: Any, dist: Any, bounds: Any, q: int, hits: Any, d: Any) -> tuple[Any, Any]:
    """Append query ``q``'s hits to the batch layout (``bounds[q]:bounds[q + 1]``)."""
    at = bounds[q]
    end = at + hits.shape[0]
    ids, dist = _grow(ids, end), _grow(dist, end)
    ids[at:end] = hits
    dist[at:end] = d
    bounds[q + 1] = end
    return ids, dist


@njit(nogil=True, cache=True)
def scan_codes(codes: Any, alive: Any, count: int, query: Any, radius: int) -> tuple[Any, Any]:
    """Brute force: ids and distances of the alive codes among the first ``count``."""
    near = np.empty(count, np.bool_)
    limit = np.uint64(radius)
    for i in range(count):
        near[i] = _distance(codes[i], query) <= limit and alive[i]
    found = np.flatnonzero(near)
    dist = np.empty(found.shape[0], np.int64)
    for k in range(found.shape[0]):
        dist[k] = np.int64(_distance(codes[found[k]], query))
    return found.astype(np.int64), dist


@njit(nogil=True, cache=True)
def scan_codes_many(
    codes: Any, alive: Any, count: int, queries: Any, radius: int
) -> tuple[Any, Any, Any]:
    """``scan_codes`` for each row of ``queries``, laid out as ``search_segment_many``'s."""
    bounds = np.zeros(queries.shape[0] + 1, np.int64)
    ids = np.empty(64, np.int64)
    dist = np.empty(64, np.int64)
    for q in range(queries.shape[0]):
        hits, d = scan_codes(codes, alive, count, queries[q], radius)
        ids, dist = _collect(ids, dist, bounds, q, hits, d)
    return bounds, ids[: bounds[-1]], dist[: bounds[-1]]
