// Compressed pixel data in the page: one frame's bytes -> its samples, with the npm codec that
// codecs.json names for the transfer syntax (the same table tells Python which pydicom plugin
// decodes it). Codecs load on first use, so a page that never meets a compressed file never
// fetches one. A syntax the table does not list is refused by name.
const dicomParser = globalThis.dicomParser;
const TABLE = (await (await fetch('/codecs.json')).json()).syntaxes;

// Emscripten builds by Chris Hafey (the codecs cornerstone uses): a classic script that defines a
// global factory; its .wasm sits beside it.
const WASM = {
  '@cornerstonejs/codec-charls': ['/vendor/codec-charls/charlswasm_decode.js', 'CharLSWASM', 'JpegLSDecoder', 'CharLS'],
  '@cornerstonejs/codec-openjpeg': ['/vendor/codec-openjpeg/openjpegwasm_decode.js', 'OpenJPEGWASM', 'J2KDecoder', 'OpenJPEG'],
  '@cornerstonejs/codec-libjpeg-turbo-8bit': ['/vendor/codec-libjpeg-turbo-8bit/libjpegturbowasm_decode.js', 'libjpegturbowasm_decode', 'JPEGDecoder', 'libjpeg-turbo'],
};
const modules = {}; // package -> Promise of the instantiated Emscripten module

export function compressed(syntax) {
  return syntax in TABLE;
}

// The frame's samples as unsigned words of `bitsAllocated` bits (what the uncompressed path reads
// from the file), so masking and sign extension are shared with it.
export async function decodeFrame(ds, syntax, frame, frames, { rows, cols, bitsAllocated }) {
  const entry = TABLE[syntax];
  const pixel = ds.elements.x7fe00010;
  if (!pixel.encapsulatedPixelData) {
    throw new Error(`transfer syntax ${syntax} (${entry.name}) needs encapsulated pixel data; the file's is native`);
  }
  const bytes = frameBytes(ds, pixel, frame, frames, syntax);
  const precision = entry.js === '@cornerstonejs/codec-libjpeg-turbo-8bit' ? jpegPrecision(bytes) : 0;
  if (precision > 8) {
    throw new Error(
      `${entry.name} with ${precision}-bit samples: the page's JPEG codec ` +
      `(${entry.js}) decodes 8-bit JPEG only; the page has no 12-bit JPEG codec`);
  }
  const decoded = entry.js === 'tfjs-parity'
    ? decodeRle(bytes, rows, cols, bitsAllocated)
    : entry.js === 'jpeg-lossless-decoder-js'
      ? await decodeJpegLossless(bytes, bitsAllocated)
      : await decodeWasm(entry.js, bytes);
  const { width, height, components, bits, samples } = decoded;
  if (!width || !height) throw new Error(`${entry.name}: the codec decoded no image (its header cannot be read)`);
  if (width !== cols || height !== rows) {
    throw new Error(`the ${entry.name} frame is ${width}x${height}, the file's Columns x Rows say ${cols}x${rows}`);
  }
  if (components !== 1) throw new Error(`the ${entry.name} frame has ${components} components; only greyscale is decoded`);
  if (bits > bitsAllocated) {
    throw new Error(`the ${entry.name} frame has ${bits}-bit samples, more than BitsAllocated ${bitsAllocated}`);
  }
  return samples;
}

// The sample precision a JPEG's start-of-frame marker declares (0 if none is found).
function jpegPrecision(bytes) {
  let i = 2; // after SOI
  while (i + 4 < bytes.length && bytes[i] === 0xff) {
    const marker = bytes[i + 1];
    if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) return bytes[i + 4];
    i += 2 + ((bytes[i + 2] << 8) | bytes[i + 3]);
  }
  return 0;
}

function frameBytes(ds, pixel, frame, frames, syntax) {
  try {
    if (frames === 1) {
      return dicomParser.readEncapsulatedPixelDataFromFragments(ds, pixel, 0, pixel.fragments.length);
    }
    if (pixel.basicOffsetTable.length) return dicomParser.readEncapsulatedImageFrame(ds, pixel, frame);
    if (pixel.fragments.length === frames) {
      return dicomParser.readEncapsulatedPixelDataFromFragments(ds, pixel, frame, 1);
    }
  } catch (e) { // dicom-parser throws strings
    throw new Error(`frame ${frame}'s compressed bytes cannot be read: ${e && e.message ? e.message : e}`);
  }
  throw new Error(
    `${frames} frames in ${pixel.fragments.length} fragments with no Basic Offset Table: ` +
    `which fragments hold frame ${frame} cannot be told (${syntax})`);
}

// RLE Lossless (PS3.5 Annex G): a header of segment offsets, one PackBits segment per byte of a
// sample, most significant byte first. No maintained npm package decodes it alone, so it is ours.
function decodeRle(bytes, rows, cols, bitsAllocated) {
  const count = rows * cols;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 64) throw new Error(`the RLE frame is ${bytes.length} bytes, shorter than its 64-byte header`);
  const segments = view.getUint32(0, true);
  const width = bitsAllocated / 8;
  if (segments !== width) {
    throw new Error(`the RLE frame has ${segments} segments; ${bitsAllocated}-bit greyscale needs ${width}`);
  }
  const samples = new (bitsAllocated === 8 ? Uint8Array : bitsAllocated === 16 ? Uint16Array : Uint32Array)(count);
  for (let s = 0; s < segments; s++) {
    const start = view.getUint32(4 + 4 * s, true);
    const end = s + 1 < segments ? view.getUint32(8 + 4 * s, true) : bytes.length;
    if (!(start >= 64 && start <= end && end <= bytes.length)) {
      throw new Error(`RLE segment ${s} claims bytes ${start}..${end} of a ${bytes.length}-byte frame`);
    }
    const shift = 8 * (width - 1 - s);
    let i = start;
    let n = 0;
    while (i < end && n < count) {
      const header = (bytes[i++] << 24) >> 24; // signed byte
      if (header >= 0) {
        for (let k = 0; k <= header && i < end && n < count; k++) samples[n++] += bytes[i++] << shift;
      } else if (header !== -128) {
        const value = bytes[i++] << shift;
        for (let k = 0; k <= -header && n < count; k++) samples[n++] += value;
      }
    }
    if (n < count) throw new Error(`RLE segment ${s} decodes to ${n} of the frame's ${count} pixels`);
  }
  return { width: cols, height: rows, components: 1, bits: bitsAllocated, samples };
}

async function decodeJpegLossless(bytes, bitsAllocated) {
  const { Decoder } = await import('/vendor/jpeg-lossless-decoder-js/lossless.js');
  const decoder = new Decoder();
  let out;
  try {
    out = decoder.decode(bytes.buffer, bytes.byteOffset, bytes.byteLength, bitsAllocated <= 8 ? 1 : 2);
  } catch (e) {
    throw new Error(`jpeg-lossless-decoder-js cannot decode the frame: ${e && e.message ? e.message : e}`);
  }
  return {
    width: decoder.xDim, height: decoder.yDim, components: decoder.numComp,
    bits: decoder.frame.precision, samples: unsignedWords(out, bitsAllocated),
  };
}

async function decodeWasm(name, bytes) {
  const [url, factory, decoderClass, codec] = WASM[name];
  modules[name] ??= loadModule(url, factory);
  const module = await modules[name];
  const decoder = new module[decoderClass]();
  try {
    decoder.getEncodedBuffer(bytes.length).set(bytes);
    decoder.decode();
    const info = decoder.getFrameInfo();
    const raw = decoder.getDecodedBuffer(); // a view of the codec's memory: copied before delete
    const words = info.bitsPerSample > 8
      ? new Uint16Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength))
      : Uint8Array.from(raw);
    return {
      width: info.width, height: info.height, components: info.componentCount,
      bits: info.bitsPerSample, samples: words,
    };
  } catch (e) {
    // A C++ exception arrives as a number; an abort (out of memory, assertion) leaves the
    // module unusable, so the next frame gets a fresh one.
    if (typeof e !== 'number') delete modules[name];
    const why = typeof e === 'number' ? 'it threw a C++ exception' : e && e.message ? e.message : String(e);
    throw new Error(`${codec} (${name}) cannot decode the frame: ${why}`);
  } finally {
    try { decoder.delete(); } catch { /* already gone with an aborted module */ }
  }
}

function loadModule(url, factory) {
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = url;
    script.onload = () => resolve(globalThis[factory]({ locateFile: (file) => new URL(file, script.src).href }));
    script.onerror = () => reject(new Error(`the codec script ${url} did not load`));
    document.head.append(script);
  });
}

// The jpeg-lossless decoder returns 16-bit samples as a signed or unsigned array, per precision.
function unsignedWords(array, bitsAllocated) {
  return bitsAllocated <= 8
    ? new Uint8Array(array.buffer, array.byteOffset, array.length)
    : new Uint16Array(array.buffer, array.byteOffset, array.length);
}
