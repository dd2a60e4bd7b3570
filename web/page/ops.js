// The JS half of the op catalogue (harness/pipeline/catalogue.py is the Python half).
// Every op takes a tensor and the step's resolved JS settings and returns a new tensor.
const tf = globalThis.tf;

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

// The page loads the converted LayersModel before the steps run and passes it in as `model`.
function model(x, { model: loaded }) {
  return loaded.predict(x);
}

export const ops = { normalize, resize, tile, expand_dims, cast, model };
