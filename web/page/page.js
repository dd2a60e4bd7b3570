// The page the harness drives: picks a backend (and proves it is the one running), runs a
// pipeline's JS steps, and sends every stage's tensor back as raw bytes (a Blob POST).
import { ops } from './ops.js';

const tf = globalThis.tf;
const state = { token: null, backend: null };

async function init({ backend, flags, token, wasmPaths }) {
  state.token = token;
  for (const [name, value] of Object.entries(flags)) tf.env().set(name, value);
  if (backend === 'wasm') tf.wasm.setWasmPaths(wasmPaths);
  let accepted = false;
  let error = null;
  try {
    accepted = await tf.setBackend(backend);
    await tf.ready();
  } catch (e) {
    error = `${e && e.message ? e.message : e}`;
  }
  // tf.setBackend returns false, and TF.js falls back to another backend, when one cannot start.
  const active = tf.getBackend();
  state.backend = active;
  return {
    requested: backend,
    active,
    accepted,
    error,
    flags: Object.fromEntries(Object.keys(flags).map((k) => [k, tf.env().get(k)])),
    capabilities: await capabilities(active),
  };
}

async function capabilities(active) {
  const env = tf.env();
  const c = {
    tfjs: tf.version.tfjs,
    user_agent: navigator.userAgent,
    cross_origin_isolated: globalThis.crossOriginIsolated === true,
    precision: 'float32',
  };
  if (active === 'webgl') {
    c.webgl_version = env.getNumber('WEBGL_VERSION');
    c.float32_render_capable = env.getBool('WEBGL_RENDER_FLOAT32_CAPABLE');
    c.float32_render_enabled = env.getBool('WEBGL_RENDER_FLOAT32_ENABLED');
    c.cpu_forward = env.getBool('WEBGL_CPU_FORWARD');
    c.renderer = webglRenderer();
    if (!c.float32_render_enabled) c.precision = 'float16';
  } else if (active === 'wasm') {
    c.simd = await env.getAsync('WASM_HAS_SIMD_SUPPORT');
    c.threads = await env.getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
  } else if (active === 'webgpu') {
    const info = tf.backend().adapterInfo || {};
    c.adapter = { vendor: info.vendor, architecture: info.architecture };
    c.cpu_forward = env.getBool('WEBGPU_CPU_FORWARD');
  }
  return c;
}

function webglRenderer() {
  const gl = document.createElement('canvas').getContext('webgl2');
  if (!gl) return null;
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  return gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER);
}

function tensorFromBytes(buffer, dtype, shape) {
  const views = { float32: Float32Array, int32: Int32Array, uint8: Uint8Array, bool: Uint8Array };
  if (!(dtype in views)) throw new Error(`input dtype ${dtype} is not supported by the page`);
  const data = new views[dtype](buffer);
  // TF.js has no uint8 dtype: uint8 values are held as int32, exactly.
  const tfDtype = dtype === 'uint8' ? 'int32' : dtype;
  return tf.tensor(dtype === 'uint8' ? Int32Array.from(data) : data, shape, tfDtype);
}

async function fetchInput(key) {
  const res = await fetch(`/input/${encodeURIComponent(key)}`, {
    headers: { 'X-Parity-Token': state.token },
  });
  if (!res.ok) throw new Error(`input ${key}: HTTP ${res.status} ${await res.text()}`);
  return res.arrayBuffer();
}

// `data` is what tensor.data() gives (bool tensors give a Uint8Array of 0/1), or raw bytes
// (a Uint8Array sent as 'uint8', e.g. decoded pixels before they become a tensor).
async function upload(key, dtype, shape, data) {
  if (!['float32', 'int32', 'bool', 'uint8'].includes(dtype)) {
    throw new Error(`dtype ${dtype} cannot be sent back (float32, int32, bool or uint8 only)`);
  }
  const res = await fetch(`/upload/${encodeURIComponent(key)}`, {
    method: 'POST',
    headers: {
      'X-Parity-Token': state.token,
      'X-Parity-Dtype': dtype,
      'X-Parity-Shape': shape.join(','),
    },
    body: new Blob([data]),
  });
  if (!res.ok) throw new Error(`upload of ${key} refused: HTTP ${res.status} ${await res.text()}`);
}

// Runs the steps on `input`, uploading each stage as `${runId}/${stage}`. Never throws: a failure
// is returned with the stage it happened in, and every stage finished before it is kept.
// With `repeat`, runs the steps a second time on the same bytes and compares the two passes
// here, bit for bit, so determinism costs compute but no transfer.
async function run({ runId, steps, input, repeat }) {
  const stages = [];
  const pending = [];
  const computeMs = {};
  let failure = null;
  let determinism = null;
  const t0 = performance.now();
  let bytes = null;
  const first = [];
  try {
    bytes = await fetchInput(input.key);
    await runSteps(steps, bytes, input, computeMs, (name, t, data) => {
      stages.push({ name, dtype: t.dtype, shape: t.shape });
      first.push(data);
      pending.push(upload(`${runId}/${name}`, t.dtype, t.shape, data));
    });
  } catch (e) {
    failure = describeError(e);
  }
  if (repeat && !failure) {
    const start = performance.now();
    determinism = { identical: true, max_abs: 0 };
    try {
      let i = 0;
      await runSteps(steps, bytes, input, {}, (name, t, data) => {
        const d = difference(first[i++], data);
        determinism = {
          identical: determinism.identical && d.identical,
          max_abs: Math.max(determinism.max_abs, d.max_abs),
        };
      });
    } catch (e) {
      determinism = { identical: false, max_abs: null, error: describeError(e).message };
    }
    computeMs.repeat = performance.now() - start;
  }
  const uploadStart = performance.now();
  const settled = await Promise.allSettled(pending);
  const uploadErrors = settled.filter((s) => s.status === 'rejected').map((s) => `${s.reason}`);
  return {
    stages,
    failure,
    determinism,
    upload_errors: uploadErrors,
    backend: tf.getBackend(),
    timings_ms: {
      total: performance.now() - t0,
      compute: computeMs,
      upload_wait: performance.now() - uploadStart,
    },
  };
}

// The chained pass: `onStage(name, tensor, data)` for the input and after every step. A thrown
// error carries the stage it happened in.
async function runSteps(steps, bytes, input, computeMs, onStage) {
  let x = tensorFromBytes(bytes, input.dtype, input.shape);
  let current = 'input';
  try {
    onStage('input', x, await x.data());
    for (const step of steps) {
      current = step.name;
      const op = ops[step.op];
      if (!op) throw new Error(`op ${step.op} is not in the page's catalogue`);
      const start = performance.now();
      const y = tf.tidy(() => op(x, step.params));
      const data = await y.data(); // waits for the GPU and reads back
      computeMs[step.name] = performance.now() - start;
      x.dispose();
      x = y;
      onStage(step.name, y, data);
    }
  } catch (e) {
    e.stage = current;
    throw e;
  } finally {
    x.dispose();
  }
}

function describeError(e) {
  return { stage: e.stage || 'input', message: `${e && e.message ? e.message : e}`, stack: e && e.stack };
}

// Two passes' data: bitwise identical?, and the greatest |a - b| (Infinity where NaN/Inf differ).
function difference(a, b) {
  if (a.length !== b.length || a.constructor !== b.constructor) {
    return { identical: false, max_abs: Infinity };
  }
  const ua = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const ub = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  let identical = true;
  for (let i = 0; i < ua.length && identical; i++) identical = ua[i] === ub[i];
  let spread = 0;
  if (!identical) {
    for (let i = 0; i < a.length; i++) {
      if (Object.is(a[i], b[i])) continue;
      const d = Math.abs(a[i] - b[i]);
      spread = Math.max(spread, Number.isNaN(d) ? Infinity : d);
    }
  }
  return { identical, max_abs: spread };
}

// Runs each step on its own input (the Python reference's input to that stage), uploading its
// output as `${runId}/${stage}`: the stage's own error, without what earlier stages passed on.
// Steps are independent, so a failing one does not stop the others.
async function runIsolated({ runId, steps, inputs }) {
  const stages = [];
  const failures = [];
  const pending = [];
  const computeMs = {};
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i];
    let x = null;
    let y = null;
    try {
      const input = inputs[i];
      x = tensorFromBytes(await fetchInput(input.key), input.dtype, input.shape);
      const op = ops[step.op];
      if (!op) throw new Error(`op ${step.op} is not in the page's catalogue`);
      const start = performance.now();
      y = tf.tidy(() => op(x, step.params));
      const data = await y.data();
      computeMs[step.name] = performance.now() - start;
      stages.push({ name: step.name, dtype: y.dtype, shape: y.shape });
      pending.push(upload(`${runId}/${step.name}`, y.dtype, y.shape, data));
    } catch (e) {
      failures.push({ stage: step.name, message: `${e && e.message ? e.message : e}`, stack: e && e.stack });
    } finally {
      if (x) x.dispose();
      if (y) y.dispose();
    }
  }
  const settled = await Promise.allSettled(pending);
  return {
    stages,
    failures,
    upload_errors: settled.filter((s) => s.status === 'rejected').map((s) => `${s.reason}`),
    backend: tf.getBackend(),
    timings_ms: { compute: computeMs },
  };
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

window.parity = {
  init,
  run,
  runIsolated,
  ops: () => Object.keys(ops),
  backend: () => tf.getBackend(),
  upload,
  difference,
  bench: {
    prepare: benchPrepare,
    upload: ({ key }) => upload(key, 'float32', [bench.array.length], bench.array),
    naive: benchNaive,
  },
};
