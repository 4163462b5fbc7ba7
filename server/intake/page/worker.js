/* worker.js: hashes one file at a time, on this device, off the page's thread.
 *
 * Messages in:  {id, file}  (a File from the page's input or drop)
 * Messages out: {id, type: 'progress', done, total}
 *               {id, type: 'result', md5, sha256, pdq, quality, note, width, height}
 *               {id, type: 'error', code, detail}
 * `note` is a code for the page to put in words (texts.json): '' (an image, all
 * hashes), 'not-image', 'too-large'.
 *
 * Invariants:
 * - The file is read in 4 MiB slices and each slice is dropped once MD5 and
 *   SHA-256 have taken it: a 2 GB video never sits in memory.
 * - Decoding is only tried for files that start like an image format, and an
 *   image over 50,000,000 pixels (hashlist's DEFAULT_MAX_PIXELS) is refused
 *   before decoding when its header says so, and before reading its pixels
 *   otherwise. Either way MD5 and SHA-256 are still given.
 * - The pixels PDQ sees are those of `hashlist hash`: EXIF orientation
 *   applied, no colour management, alpha dropped; an image with a short side
 *   of 2048 or more is box-averaged by a whole factor first, as
 *   hashlist.hashing._reduced does.
 * - Nothing here makes a network request.
 */
'use strict';

importScripts('digests.js', 'pdq.js');

var CHUNK = 4 * 1024 * 1024;
var MAX_PIXELS = 50000000;
var DRAFT_SIDE = 1024, MAX_SIDE = 8 * DRAFT_SIDE;
var STRIP_PIXELS = 4 * 1024 * 1024;  // pixels read back per getImageData call

var queue = Promise.resolve();

self.onmessage = function (event) {
  var job = event.data;
  // One file at a time: hashing two at once would only share the same core.
  queue = queue.then(function () { return hashOne(job.id, job.file); });
};

function hashOne(id, file) {
  return digestFile(id, file).then(function (exact) {
    return perceptual(file, exact.head).then(function (image) {
      self.postMessage({
        id: id, type: 'result', md5: exact.md5, sha256: exact.sha256,
        pdq: image.pdq || null, quality: image.quality === undefined ? null : image.quality,
        note: image.note || '', width: image.width || 0, height: image.height || 0
      });
    });
  }).catch(function (e) {
    self.postMessage({ id: id, type: 'error', code: 'unreadable', detail: String(e && e.name || e) });
  });
}

function digestFile(id, file) {
  var md5 = HashlistDigests.md5(), sha256 = HashlistDigests.sha256();
  var size = file.size, head = new Uint8Array(0);
  function step(offset) {
    if (offset >= size) {
      return { md5: md5.hex(), sha256: sha256.hex(), head: head };
    }
    return file.slice(offset, offset + CHUNK).arrayBuffer().then(function (buffer) {
      var bytes = new Uint8Array(buffer);
      if (offset === 0) head = bytes.slice(0, 65536);  // kept for sniffing the format
      md5.update(bytes);
      sha256.update(bytes);
      var done = offset + bytes.length;
      self.postMessage({ id: id, type: 'progress', done: done, total: size });
      if (bytes.length === 0) throw new Error('the file shrank while it was read');
      return step(done);
    });
  }
  return Promise.resolve(step(0));
}

/* ---- Which files to try decoding, and their size from the header ---- */

function startsWith(b, sig, at) {
  at = at || 0;
  if (b.length < at + sig.length) return false;
  for (var i = 0; i < sig.length; i++) if (b[at + i] !== sig[i]) return false;
  return true;
}

function ascii(b, at, n) {
  var s = '';
  for (var i = at; i < at + n && i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}

// Only formats a browser may decode: trying anything else (a video) could make
// the browser read the whole file into memory to sniff it.
function looksLikeImage(b) {
  if (startsWith(b, [0xff, 0xd8, 0xff]) || startsWith(b, [0x89, 0x50, 0x4e, 0x47])) return true;
  var six = ascii(b, 0, 6);
  if (six === 'GIF87a' || six === 'GIF89a' || ascii(b, 0, 2) === 'BM') return true;
  if (ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') return true;
  if (startsWith(b, [0, 0, 1, 0])) return true;  // ICO
  var brand = ascii(b, 8, 4);
  return ascii(b, 4, 4) === 'ftyp' && (brand === 'avif' || brand === 'avis');
}

// Width and height from the header when the format says them plainly, else null.
function headerSize(b) {
  var v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  try {
    if (startsWith(b, [0x89, 0x50, 0x4e, 0x47]) && b.length >= 24) {
      return [v.getUint32(16), v.getUint32(20)];
    }
    if (ascii(b, 0, 3) === 'GIF' && b.length >= 10) return [v.getUint16(6, true), v.getUint16(8, true)];
    if (ascii(b, 0, 2) === 'BM' && b.length >= 26) {
      return [Math.abs(v.getInt32(18, true)), Math.abs(v.getInt32(22, true))];
    }
    if (ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP' && b.length >= 30) {
      var chunk = ascii(b, 12, 4);
      if (chunk === 'VP8X') return [1 + (v.getUint32(24, true) & 0xffffff), 1 + (v.getUint32(27, true) & 0xffffff)];
      if (chunk === 'VP8 ') return [v.getUint16(26, true) & 0x3fff, v.getUint16(28, true) & 0x3fff];
      if (chunk === 'VP8L') {
        var bits = v.getUint32(21, true);
        return [1 + (bits & 0x3fff), 1 + ((bits >>> 14) & 0x3fff)];
      }
    }
    if (startsWith(b, [0xff, 0xd8])) {
      // Walk the JPEG segments to the first start-of-frame (SOF0..SOF15 but
      // DHT C4, JPG C8, DAC CC).
      var o = 2;
      while (o + 9 < b.length) {
        if (b[o] !== 0xff) return null;
        var marker = b[o + 1];
        if (marker === 0xff) { o++; continue; }
        if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
          return [v.getUint16(o + 7), v.getUint16(o + 5)];
        }
        o += 2 + v.getUint16(o + 2);
      }
    }
  } catch (e) { /* a header cut short: decide after decoding */ }
  return null;
}

/* ---- PDQ ---- */

function perceptual(file, head) {
  if (!looksLikeImage(head)) return Promise.resolve({ note: 'not-image' });
  var declared = headerSize(head);
  if (declared && declared[0] * declared[1] > MAX_PIXELS) {
    return Promise.resolve({ note: 'too-large', width: declared[0], height: declared[1] });
  }
  return createImageBitmap(file, {
    imageOrientation: 'from-image', premultiplyAlpha: 'none', colorSpaceConversion: 'none'
  }).then(function (bitmap) {
    var width = bitmap.width, height = bitmap.height;
    try {
      if (width * height > MAX_PIXELS) return { note: 'too-large', width: width, height: height };
      var reduced = lumaOf(bitmap);
      var hash = HashlistPdq.fromLuma(reduced.luma, reduced.width, reduced.height);
      return { pdq: hash.hex, quality: hash.quality, width: width, height: height };
    } finally {
      bitmap.close();
    }
  }, function () {
    return { note: 'not-image' };  // no decoder for it: the exact hashes only
  });
}

/* The luminance of the bitmap, read back a strip of rows at a time so the RGBA
 * copy stays small. A large image is first box-averaged by whole factors
 * (fx, fy) so the short side stays at 1024 or more and no side is much over
 * 8192: each channel averaged and rounded to 8 bits, as Pillow's reduce does
 * for hashlist.hashing._reduced, then Y as the reference computes it. */
function lumaOf(bitmap) {
  var width = bitmap.width, height = bitmap.height;
  var uniform = Math.max(1, Math.floor(Math.min(width, height) / DRAFT_SIDE));
  var fx = Math.max(uniform, Math.floor(width / MAX_SIDE));
  var fy = Math.max(uniform, Math.floor(height / MAX_SIDE));
  var outW = Math.ceil(width / fx), outH = Math.ceil(height / fy);
  var reduced = fx > 1 || fy > 1;
  var luma = new Float32Array(outW * outH);
  var sums = reduced ? new Uint32Array(outW * outH * 3) : null;
  var stripRows = fy * Math.max(1, Math.floor(STRIP_PIXELS / (width * fy)));
  stripRows = Math.min(stripRows, height);
  var canvas = new OffscreenCanvas(width, stripRows);
  var ctx = canvas.getContext('2d', { willReadFrequently: true, alpha: true });
  ctx.globalCompositeOperation = 'copy';  // the strip's pixels as they are, not blended
  var y0, rows, data, y, x, p, row, cell;
  for (y0 = 0; y0 < height; y0 += stripRows) {
    rows = Math.min(stripRows, height - y0);
    ctx.clearRect(0, 0, width, stripRows);
    ctx.drawImage(bitmap, 0, y0, width, rows, 0, 0, width, rows);
    data = ctx.getImageData(0, 0, width, rows).data;
    for (y = 0; y < rows; y++) {
      p = y * width * 4;
      if (!reduced) {
        row = (y0 + y) * width;
        for (x = 0; x < width; x++, p += 4) {
          luma[row + x] = HashlistPdq.luma(data[p], data[p + 1], data[p + 2]);
        }
      } else {
        row = Math.floor((y0 + y) / fy) * outW;
        for (x = 0; x < width; x++, p += 4) {
          cell = 3 * (row + Math.floor(x / fx));
          sums[cell] += data[p];
          sums[cell + 1] += data[p + 1];
          sums[cell + 2] += data[p + 2];
        }
      }
    }
  }
  if (reduced) {
    // Each cell's mean, rounded; cells at the right and bottom edges are smaller.
    for (y = 0; y < outH; y++) {
      var cellH = Math.min(fy, height - y * fy);
      for (x = 0; x < outW; x++) {
        var n = cellH * Math.min(fx, width - x * fx), c = 3 * (y * outW + x);
        luma[y * outW + x] = HashlistPdq.luma(Math.floor((sums[c] + n / 2) / n),
          Math.floor((sums[c + 1] + n / 2) / n), Math.floor((sums[c + 2] + n / 2) / n));
      }
    }
  }
  return { luma: luma, width: outW, height: outH };
}
