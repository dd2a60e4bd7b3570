// Hooks for the harness's own tests and benchmarks, never in the page a user's code runs in
// until they ask for it: the harness imports this module into a page (harness/runtimes/
// browser.py `hooks_for_tests`) only for a test or `tfjs-parity bench`.
import { modelOf, loadModels } from './models.js';
import { ops } from './ops.js';
import { difference, describeError } from './steps.js';
import { fetchInputs, tensorFromWire, upload } from './transfer.js';

const tf = globalThis.tf;

// One DICOM file through the page's decoder alone (the hostile-file tests feed thousands):
// the shape and a checksum of the values (sum of v * (i % 251 + 1), exact in float64), or the
// error it gave, and how long it took. Never throws.
async function decodeFile({ inputKey, frame }) {
  const start = performance.now();
  let x = null;
  let y = null;
  try {
    x = tensorFromWire((await fetchInputs(inputKey)).file);
    const decodeStart = performance.now();
    y = await ops.decode(x, { frame, apply_bits_stored: true });
    const values = await y.data();
    const decodeMs = performance.now() - decodeStart;
    let checksum = 0;
    for (let i = 0; i < values.length; i++) checksum += values[i] * ((i % 251) + 1);
    return { shape: y.shape, checksum, error: null, ms: performance.now() - start, decode_ms: decodeMs };
  } catch (e) {
    return { shape: null, checksum: null, error: describeError(e).message, ms: performance.now() - start };
  } finally {
    if (x) x.dispose();
    if (y) y.dispose();
  }
}

// Transfer benchmark helpers: the array is made first, so only its transfer is timed.
const bench = { array: null };

function benchPrepare({ megabytes }) {
  const n = Math.floor((megabytes * 1e6) / 4);
  bench.array = new Float32Array(n);
  for (let i = 0; i < n; i++) bench.array[i] = Math.sin(i) * 1000;
  return n;
}

function benchNaive({ count }) {
  return Array.from(bench.array.subarray(0, count));
}

// Plain inference as an app runs it: predict, then read the output. Returns each repeat's ms
// (after one warm-up, so shader compilation and weight upload are not counted).
async function benchInference({ params, inputKey, repeats }) {
  await loadModels([{ op: 'model', params }]);
  const { model } = modelOf(params.url);
  const x = tensorFromWire((await fetchInputs(inputKey)).input);
  const times = [];
  try {
    for (let i = 0; i <= repeats; i++) {
      const start = performance.now();
      const y = model.predict(x);
      await y.data();
      y.dispose();
      if (i > 0) times.push(performance.now() - start);
    }
  } finally {
    x.dispose();
  }
  return times;
}

export const hooks = {
  decodeFile,
  ops: () => Object.keys(ops),
  backend: () => tf.getBackend(),
  upload,
  difference,
  bench: {
    prepare: benchPrepare,
    upload: ({ key }) => upload(key, 'float32', [bench.array.length], bench.array),
    naive: benchNaive,
    inference: benchInference,
  },
};
