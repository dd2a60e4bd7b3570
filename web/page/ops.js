// The JS half of the op catalogue (harness/ops/catalogue.py is the Python half).
// Every op takes a tensor and the step's resolved JS settings and returns a new tensor.
import * as codecs from './codecs.js';

const tf = globalThis.tf;

// Transfer syntaxes the page decodes: pixel data stored as is (byte order: true = little
// endian). dicom-parser inflates a deflated file itself with pako (loaded by the page).
const UNCOMPRESSED = {
  '1.2.840.10008.1.2': true, // implicit VR little endian
  '1.2.840.10008.1.2.1': true, // explicit VR little endian
  '1.2.840.10008.1.2.2': false, // explicit VR big endian
  '1.2.840.10008.1.2.1.99': true, // deflated explicit VR little endian
};

// One frame of native (uncompressed) pixel data as unsigned words of BitsAllocated bits.
// Pixel data holding a whole frame more than declared means the declared size is wrong.
function nativeWords(ds, frame, frames, { rows, cols, bitsAllocated }, little) {
  const data = ds.byteArray; // the file as parsed (inflated, for a deflated one)
  const pixel = ds.elements.x7fe00010;
  const count = rows * cols;
  const size = bitsAllocated / 8;
  const start = pixel.dataOffset + frame * count * size;
  if (pixel.encapsulatedPixelData) throw new Error('the pixel data is encapsulated (compressed) but the transfer syntax is native');
  if (start + count * size > Math.min(data.length, pixel.dataOffset + pixel.length)) {
    throw new Error(`pixel data holds ${pixel.length} bytes, Rows x Columns x frame ${frame} needs more`);
  }
  if (pixel.length >= (frames + 1) * count * size) {
    throw new Error(
      `the pixel data holds ${pixel.length} bytes, ${Math.floor(pixel.length / (count * size))} frames of ` +
      `${rows}x${cols} at ${bitsAllocated} bits, but NumberOfFrames says ${frames}: the declared size does not match the data`);
  }
  const Words = size === 1 ? Uint8Array : size === 2 ? Uint16Array : Uint32Array;
  const bytes = data.slice(start, start + count * size); // aligned, whatever the file's offset
  const words = new Words(bytes.buffer); // typed arrays are little endian on every browser host
  if (!little && size > 1) { // big endian: swap each word's bytes
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < count; i++) words[i] = size === 2 ? view.getUint16(2 * i) : view.getUint32(4 * i);
  }
  return words;
}

// Unsigned words -> the values they store: the low `bits` bits, sign-extended when signed.
// An unsigned 32-bit value above int32's range cannot be held by the page's int32 tensor.
function storedValues(words, bits, signed) {
  const out = new Int32Array(words.length);
  const mask = 2 ** bits - 1;
  const sign = 2 ** (bits - 1);
  for (let i = 0; i < words.length; i++) {
    let v = bits < 32 ? words[i] & mask : words[i]; // & on a 32-bit word would make it signed
    if (signed && v >= sign) v -= 2 * sign;
    if (v > 2147483647) throw new Error(`pixel ${i} holds ${v}, beyond int32: the page cannot hold it`);
    out[i] = v;
  }
  return out;
}

// The case's DICOM file (its bytes) -> stored values of one frame, int32 [rows, cols, 1], as an
// app decoding with dicom-parser does: byte order from the transfer syntax (or the codec
// codecs.json names for a compressed one), values masked to BitsStored and sign-extended from
// HighBit when PixelRepresentation is 1 (unless `apply_bits_stored` is false: then the whole
// BitsAllocated word is the value). With `values` modality, the rescale is applied (float32).
async function decode(x, { frame, values: wanted, apply_bits_stored: applyBitsStored }) {
  const bytes = Uint8Array.from(await x.data());
  let ds;
  try {
    ds = globalThis.dicomParser.parseDicom(bytes);
  } catch (e) { // dicom-parser throws {exception: text, dataSet} objects, not Errors
    throw new Error(`dicom-parser cannot parse the file: ${e && (e.exception || e.message) ? e.exception || e.message : e}`);
  }
  const syntax = ds.string('x00020010') || '1.2.840.10008.1.2';
  if (!(syntax in UNCOMPRESSED) && !codecs.compressed(syntax)) {
    throw new Error(`transfer syntax ${syntax} is not one the page decodes (no codec for it in codecs.json)`);
  }
  for (const [tag, keyword] of [['x00280010', 'Rows'], ['x00280011', 'Columns'], ['x00280100', 'BitsAllocated'], ['x00280101', 'BitsStored']]) {
    const vr = ds.elements[tag]?.vr; // known in explicit VR files only
    if (vr && vr !== 'US') throw new Error(`${keyword} has VR ${vr}, not US: it is not a whole number`);
  }
  const image = {
    rows: ds.uint16('x00280010'),
    cols: ds.uint16('x00280011'),
    bitsAllocated: ds.uint16('x00280100'),
  };
  const bitsStored = ds.uint16('x00280101');
  const signed = ds.uint16('x00280103') === 1;
  const samples = ds.uint16('x00280002') ?? 1;
  const framesText = (ds.string('x00280008') ?? '').trim();
  const frames = framesText === '' ? 1 : Number(framesText);
  if (!Number.isInteger(frames) || frames < 1) throw new Error(`NumberOfFrames '${framesText}' is not a whole number of frames`);
  const { rows, cols, bitsAllocated } = image;
  if (!ds.elements.x7fe00010 || !rows || !cols) throw new Error('the file has no PixelData, Rows or Columns');
  if (samples !== 1) throw new Error(`${samples} samples per pixel: only greyscale is decoded`);
  if (![8, 16, 32].includes(bitsAllocated)) {
    throw new Error(`BitsAllocated ${bitsAllocated}: only 8, 16 and 32 are decoded`);
  }
  if (!(frame >= 0 && frame < frames)) throw new Error(`frame ${frame} asked for, the file has ${frames}`);
  const words = syntax in UNCOMPRESSED
    ? nativeWords(ds, frame, frames, image, UNCOMPRESSED[syntax])
    : await codecs.decodeFrame(ds, syntax, frame, frames, image);
  const out = storedValues(words, applyBitsStored ? bitsStored : bitsAllocated, signed);
  if (wanted !== 'modality') return tf.tensor(out, [rows, cols, 1], 'int32');
  return tf.tensor(modalityValues(ds, out), [rows, cols, 1], 'float32');
}
decode.isAsync = true;

// RescaleSlope / RescaleIntercept applied in float32 (what a page computing HU does); a Modality
// LUT Sequence is not applied by the page, so it is refused rather than ignored.
function modalityValues(ds, stored) {
  if (ds.elements.x00283000) throw new Error('the file has a Modality LUT Sequence: the page does not apply it');
  const slope = ds.elements.x00281053 ? parseFloat(ds.string('x00281053')) : 1;
  const intercept = ds.elements.x00281052 ? parseFloat(ds.string('x00281052')) : 0;
  if (!Number.isFinite(slope) || !Number.isFinite(intercept)) {
    throw new Error(`RescaleSlope ${ds.string('x00281053')} / RescaleIntercept ${ds.string('x00281052')} are not numbers`);
  }
  const out = new Float32Array(stored.length);
  for (let i = 0; i < stored.length; i++) out[i] = stored[i] * slope + intercept;
  return out;
}

function normalize(x, { mean, std }) {
  // As the motivating code: tf.tensor3d(image, shape, 'float32').sub(mean).div(std).
  return tf.cast(x, 'float32').sub(mean).div(std);
}

function resize(x, { size, method, align_corners, half_pixel_centers, antialias }) {
  const y = antialias === 'skimage' ? skimagePrefilter(x, size) : x;
  return method === 'nearest'
    ? tf.image.resizeNearestNeighbor(y, size, align_corners, half_pixel_centers)
    : tf.image.resizeBilinear(y, size, align_corners, half_pixel_centers);
}

// skimage.transform.resize smooths before shrinking: scipy.ndimage.gaussian_filter with
// sigma = max(0, (in/out - 1) / 2) per axis, truncate 4.0 and mode 'mirror' (skimage 'reflect').
function skimagePrefilter(x, size) {
  const spatial = x.rank === 4 ? 1 : 0;
  if (x.rank !== 3 && x.rank !== 4) throw new Error(`resize needs rank 3 or 4, got ${x.rank}`);
  let y = x.rank === 3 ? x.expandDims(0) : x;
  for (let axis = 0; axis < 2; axis++) {
    const inSize = x.shape[spatial + axis];
    const outSize = size[axis];
    if (outSize > inSize) {
      throw new Error(
        `antialias 'skimage' reproduces skimage only when shrinking: axis ${axis} grows ` +
        `${inSize} -> ${outSize}, where skimage mirrors the border and TF.js clamps it`);
    }
    const sigma = Math.max(0, (inSize / outSize - 1) / 2);
    if (sigma > 1e-15) y = gaussianAlong(y, 1 + axis, sigma);
  }
  return x.rank === 3 ? y.squeeze([0]) : y;
}

function gaussianAlong(x, axis, sigma) {
  const radius = Math.floor(4.0 * sigma + 0.5);
  if (radius >= x.shape[axis]) {
    throw new Error(`Gaussian radius ${radius} does not fit an axis of ${x.shape[axis]} pixels`);
  }
  const weights = [];
  for (let k = -radius; k <= radius; k++) weights.push(Math.exp(-0.5 * (k * k) / (sigma * sigma)));
  const total = weights.reduce((a, b) => a + b, 0);
  const channels = x.shape[3];
  const taps = weights.length;
  const kernelShape = axis === 1 ? [taps, 1, channels, 1] : [1, taps, channels, 1];
  const values = new Float32Array(taps * channels);
  for (let k = 0; k < taps; k++) for (let c = 0; c < channels; c++) values[k * channels + c] = weights[k] / total;
  const pad = [[0, 0], [0, 0], [0, 0], [0, 0]];
  pad[axis] = [radius, radius];
  const padded = tf.mirrorPad(tf.cast(x, 'float32'), pad, 'reflect');
  return tf.depthwiseConv2d(padded, tf.tensor4d(values, kernelShape), 1, 'valid');
}

function tile(x, { reps }) {
  return tf.tile(x, reps);
}

function expand_dims(x, { axis }) {
  return tf.expandDims(x, axis);
}

function cast(x, { dtype }) {
  return tf.cast(x, dtype);
}

// A model step is run by the page itself (page.js predictModel and modelLayers: its inputs and
// outputs by name, every layer captured); listed here so the page's catalogue is the harness's.
function model() {
  throw new Error('a model step is run by page.js, not through the op catalogue');
}

export const ops = { decode, normalize, resize, tile, expand_dims, cast, model };
