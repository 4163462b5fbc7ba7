/* digests.js: MD5 and SHA-256, incremental, for the hashing worker.
 *
 * Why hand-written: WebCrypto's digest() takes the whole input at once, so a
 * 2 GB video would have to sit in memory; these take the file chunk by chunk.
 *
 * Invariants:
 * - update() may be called any number of times with any chunk sizes; the
 *   result depends only on the concatenated bytes (a partial 64-byte block is
 *   carried over to the next call).
 * - hex() pads and finishes once; the object must not be updated afterwards.
 * - Arithmetic is on 32-bit integers (`| 0`, `>>> 0`): exactly the RFC 1321
 *   and FIPS 180-4 functions, checked against Python's hashlib by the tests.
 */
'use strict';

var HashlistDigests = (function () {
  // floor(abs(sin(i + 1)) * 2^32), RFC 1321.
  var MD5_K = new Int32Array([
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391
  ]);
  // Per-round rotation amounts, RFC 1321.
  var MD5_S1 = [7, 12, 17, 22], MD5_S2 = [5, 9, 14, 20], MD5_S3 = [4, 11, 16, 23],
    MD5_S4 = [6, 10, 15, 21];

  // First 32 bits of the fractional parts of the cube roots of the first 64 primes.
  var SHA_K = new Int32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ]);

  // One 64-byte block of MD5 at byte offset o of the DataView dv; x is scratch.
  function md5Block(h, x, dv, o) {
    var i, f, t, s, g;
    for (i = 0; i < 16; i++) x[i] = dv.getInt32(o + 4 * i, true);  // little-endian words
    var a = h[0], b = h[1], c = h[2], d = h[3];
    for (i = 0; i < 16; i++) {
      f = (b & c) | (~b & d);
      s = MD5_S1[i & 3];
      t = (a + f + MD5_K[i] + x[i]) | 0;
      a = d; d = c; c = b;
      b = (b + ((t << s) | (t >>> (32 - s)))) | 0;
    }
    for (i = 16; i < 32; i++) {
      f = (d & b) | (~d & c);
      g = (5 * i + 1) & 15;
      s = MD5_S2[i & 3];
      t = (a + f + MD5_K[i] + x[g]) | 0;
      a = d; d = c; c = b;
      b = (b + ((t << s) | (t >>> (32 - s)))) | 0;
    }
    for (i = 32; i < 48; i++) {
      f = b ^ c ^ d;
      g = (3 * i + 5) & 15;
      s = MD5_S3[i & 3];
      t = (a + f + MD5_K[i] + x[g]) | 0;
      a = d; d = c; c = b;
      b = (b + ((t << s) | (t >>> (32 - s)))) | 0;
    }
    for (i = 48; i < 64; i++) {
      f = c ^ (b | ~d);
      g = (7 * i) & 15;
      s = MD5_S4[i & 3];
      t = (a + f + MD5_K[i] + x[g]) | 0;
      a = d; d = c; c = b;
      b = (b + ((t << s) | (t >>> (32 - s)))) | 0;
    }
    h[0] = (h[0] + a) | 0; h[1] = (h[1] + b) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0;
  }

  // One 64-byte block of SHA-256 at byte offset o of dv; w is the 64-word schedule.
  function sha256Block(h, w, dv, o) {
    var i, x, y, s0, s1, t1, t2;
    for (i = 0; i < 16; i++) w[i] = dv.getInt32(o + 4 * i, false);  // big-endian words
    for (i = 16; i < 64; i++) {
      x = w[i - 15]; y = w[i - 2];
      s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (i = 0; i < 64; i++) {
      s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      t1 = (k + s1 + ((e & f) ^ (~e & g)) + SHA_K[i] + w[i]) | 0;
      s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      k = g; g = f; f = e; e = (d + t1) | 0;
      d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    h[0] = (h[0] + a) | 0; h[1] = (h[1] + b) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0;
    h[4] = (h[4] + e) | 0; h[5] = (h[5] + f) | 0; h[6] = (h[6] + g) | 0; h[7] = (h[7] + k) | 0;
  }

  /* The Merkle-Damgard streaming shared by both: whole blocks are read straight
   * from the caller's chunk; only a block split across two chunks is copied. */
  function Stream(block, state, scratchWords, bigEndian) {
    this.block = block;
    this.h = state;
    this.scratch = new Int32Array(scratchWords);
    this.pending = new Uint8Array(64);
    this.pendingView = new DataView(this.pending.buffer);
    this.pendingLength = 0;
    this.total = 0;
    this.bigEndian = bigEndian;
  }

  Stream.prototype.update = function (bytes) {
    // bytes: a Uint8Array (any offset and length).
    var n = bytes.length, i = 0;
    this.total += n;
    if (this.pendingLength > 0) {
      var take = Math.min(64 - this.pendingLength, n);
      this.pending.set(bytes.subarray(0, take), this.pendingLength);
      this.pendingLength += take;
      i = take;
      if (this.pendingLength < 64) return;
      this.block(this.h, this.scratch, this.pendingView, 0);
      this.pendingLength = 0;
    }
    var view = new DataView(bytes.buffer, bytes.byteOffset, n);
    for (; i + 64 <= n; i += 64) this.block(this.h, this.scratch, view, i);
    if (i < n) {
      this.pending.set(bytes.subarray(i), 0);
      this.pendingLength = n - i;
    }
  };

  Stream.prototype.hex = function () {
    // Padding: 0x80, zeros, then the length in bits as 64 bits.
    var lengthBlock = new Uint8Array(this.pendingLength < 56 ? 64 - this.pendingLength
      : 128 - this.pendingLength);
    lengthBlock[0] = 0x80;
    var view = new DataView(lengthBlock.buffer), end = lengthBlock.length;
    // total * 8 split without leaving the exact range of doubles (files < 2^53 bytes).
    var low = (this.total % 0x20000000) * 8, high = Math.floor(this.total / 0x20000000);
    if (this.bigEndian) {
      view.setUint32(end - 8, high, false);
      view.setUint32(end - 4, low, false);
    } else {
      view.setUint32(end - 8, low, true);
      view.setUint32(end - 4, high, true);
    }
    this.update(lengthBlock);
    var out = '', j, word;
    for (j = 0; j < this.h.length; j++) {
      word = this.h[j] >>> 0;
      if (!this.bigEndian) {  // MD5 writes its state words little-endian
        word = (((word & 0xff) << 24) | ((word & 0xff00) << 8) | ((word >>> 8) & 0xff00)
          | (word >>> 24)) >>> 0;
      }
      out += (word + 0x100000000).toString(16).slice(1);
    }
    return out;
  };

  function md5() {
    return new Stream(md5Block, new Int32Array([0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476]),
      16, false);
  }

  function sha256() {
    return new Stream(sha256Block, new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]), 64, true);
  }

  return { md5: md5, sha256: sha256 };
})();
