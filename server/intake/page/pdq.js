/* pdq.js: Meta's PDQ perceptual hash (256 bits) and its quality, from luminance.
 *
 * Written from the algorithm's description (Meta's "The TMK+PDQF Video-Hashing
 * Algorithm and the PDQ Image Similarity Algorithm", pdq/hashing.pdf):
 *   1. luminance Y = 0.299 R + 0.587 G + 0.114 B, as floats;
 *   2. a Jarosz tent filter: two passes of a box filter along each axis, the
 *      window ceil(side / 128) so the blur matches the 64x64 decimation;
 *   3. decimation to 64x64 by sampling at the centres of 64 equal bands;
 *   4. quality: the sum of |neighbour differences| of the 64x64 in percent of
 *      full scale, / 90, capped at 100;
 *   5. a 2-D DCT keeping the 16x16 lowest frequencies but the DC row/column
 *      (rows 1..16 of the 64-point DCT-II basis);
 *   6. bit (i, j) is set when coefficient (i, j) is above the median of the 256.
 *
 * Invariants:
 * - The hex is Meta's: 16 words of 16 bits, word i holding row i (bit j =
 *   column j), printed from word 15 down to word 0. That is the bit order of
 *   `hashlist.hashing.pdq_of` and of ThreatExchange.
 * - The box filter at an edge averages only the samples that exist (the window
 *   is cut, not padded), as the reference does.
 * - Arithmetic is single precision, rounded (Math.fround) at every step in
 *   the reference's order: the box filter's running sums, the DCT's dot
 *   products, the quality's differences. An image under 64 pixels on a side is
 *   replicated by the decimation, which makes whole rows of DCT coefficients
 *   zero up to rounding noise; only the same rounding gives the same bits.
 * - Pure: no IO, no DOM; usable in a worker or a page.
 */
'use strict';

var HashlistPdq = (function () {
  var SIDE = 64, KEEP = 16;
  var f32 = Math.fround;

  // Rows 1..16 of the orthonormal 64-point DCT-II basis (row 0, the DC, skipped).
  var DCT = new Float32Array(KEEP * SIDE);
  (function () {
    var scale = Math.sqrt(2 / SIDE);
    for (var i = 0; i < KEEP; i++) {
      for (var j = 0; j < SIDE; j++) {
        DCT[i * SIDE + j] = scale * Math.cos((Math.PI / 2 / SIDE) * (i + 1) * (2 * j + 1));
      }
    }
  })();

  function windowSize(side) {
    return Math.floor((side + 2 * SIDE - 1) / (2 * SIDE));  // ceil(side / 128)
  }

  /* Box filter of width `win` along one line of `n` samples: src[start + k * stride].
   * Output k averages the samples in [k - behind, k + ahead] that exist, with
   * ahead = floor(win / 2) and behind = win - 1 - ahead (the reference's centring
   * for even windows). */
  function boxLine(src, dst, start, n, stride, win) {
    var ahead = win >> 1, behind = win - 1 - ahead;
    var sum = 0, k, add, drop, lo, hi;
    for (k = 0; k < ahead && k < n; k++) sum = f32(sum + src[start + k * stride]);
    for (k = 0; k < n; k++) {
      add = k + ahead;
      if (add < n) sum = f32(sum + src[start + add * stride]);
      drop = k - behind - 1;
      if (drop >= 0) sum = f32(sum - src[start + drop * stride]);
      lo = k - behind < 0 ? 0 : k - behind;
      hi = add < n ? add : n - 1;
      dst[start + k * stride] = sum / (hi - lo + 1);  // the Float32Array rounds
    }
  }

  // Two box passes along rows then columns; the result ends back in `a`.
  function tent(a, b, width, height) {
    var winX = windowSize(width), winY = windowSize(height), pass, r, c;
    for (pass = 0; pass < 2; pass++) {
      for (r = 0; r < height; r++) boxLine(a, b, r * width, width, 1, winX);
      for (c = 0; c < width; c++) boxLine(b, a, c, height, width, winY);
    }
  }

  function decimate(a, width, height) {
    var out = new Float32Array(SIDE * SIDE), i, j, r, c;
    for (i = 0; i < SIDE; i++) {
      r = Math.floor(((i + 0.5) * height) / SIDE);
      for (j = 0; j < SIDE; j++) {
        c = Math.floor(((j + 0.5) * width) / SIDE);
        out[i * SIDE + j] = a[r * width + c];
      }
    }
    return out;
  }

  function quality(y) {
    var sum = 0, i, j;
    for (i = 0; i < SIDE - 1; i++) {
      for (j = 0; j < SIDE; j++) {
        sum += Math.abs(Math.trunc(f32(f32(f32(y[i * SIDE + j] - y[(i + 1) * SIDE + j]) * 100) / 255)));
      }
    }
    for (i = 0; i < SIDE; i++) {
      for (j = 0; j < SIDE - 1; j++) {
        sum += Math.abs(Math.trunc(f32(f32(f32(y[i * SIDE + j] - y[i * SIDE + j + 1]) * 100) / 255)));
      }
    }
    return Math.min(100, Math.floor(sum / 90));
  }

  // B = D Y D^T: the 16x16 low (non-DC) frequencies of the 64x64 luminance.
  function dct16(y) {
    var t = new Float32Array(KEEP * SIDE), out = new Float32Array(KEEP * KEEP);
    var i, j, k, s;
    for (i = 0; i < KEEP; i++) {
      for (j = 0; j < SIDE; j++) {
        s = 0;
        for (k = 0; k < SIDE; k++) s = f32(s + f32(DCT[i * SIDE + k] * y[k * SIDE + j]));
        t[i * SIDE + j] = s;
      }
    }
    for (i = 0; i < KEEP; i++) {
      for (j = 0; j < KEEP; j++) {
        s = 0;
        for (k = 0; k < SIDE; k++) s = f32(s + f32(t[i * SIDE + k] * DCT[j * SIDE + k]));
        out[i * KEEP + j] = s;
      }
    }
    return out;
  }

  function toHex(coefficients) {
    // The median is the 128th smallest of the 256 (the lower middle), as in the
    // reference; a coefficient strictly above it sets its bit.
    var sorted = Float32Array.from(coefficients).sort();
    var median = sorted[KEEP * KEEP / 2 - 1];
    var hex = '', i, j, word;
    for (i = KEEP - 1; i >= 0; i--) {
      word = 0;
      for (j = 0; j < KEEP; j++) {
        if (coefficients[i * KEEP + j] > median) word |= 1 << j;
      }
      hex += (word + 0x10000).toString(16).slice(1);
    }
    return hex;
  }

  /* PDQ of a width x height luminance image (row-major, values 0..255).
   * `luma` is overwritten (it is the filter's working buffer). */
  function fromLuma(luma, width, height) {
    var scratch = new Float32Array(width * height);
    tent(luma, scratch, width, height);
    scratch = null;
    var small = decimate(luma, width, height);
    return { hex: toHex(dct16(small)), quality: quality(small) };
  }

  // Y of one pixel as hashlist's PDQ binding computes it: in double precision,
  // stored as single.
  function luma(r, g, b) {
    return f32(r * 0.299 + g * 0.587 + b * 0.114);
  }

  return { fromLuma: fromLuma, luma: luma, windowSize: windowSize };
})();
