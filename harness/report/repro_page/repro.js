// One TF.js step of a tfjs-parity run, alone: the step's op on input.npy, on the run's backend
// (or ?backend=), with TF.js from vendor/ (the harness's copy), jsDelivr (?tfjs=cdn) or any URL.
import { float16Values, npyBytes, parseNpy } from './npy.js';

const query = new URLSearchParams(location.search);

function script(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = src;
    s.onload = resolve;
    s.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.appendChild(s);
  });
}

async function npy(name) {
  const res = await fetch(name);
  return res.ok ? parseNpy(await res.arrayBuffer()) : null;
}

// TF.js has no float64, uint16 or int16: the harness feeds float64 as float32 and integers as
// int32 (core/tensors.py), and so does this page
function tensorOf({ descr, shape, data }) {
  if (descr === '<f8') return tf.tensor(Float32Array.from(data), shape, 'float32');
  if (descr === '<f2') return tf.tensor(float16Values(data), shape, 'float32');
  if (descr === '<f4') return tf.tensor(data, shape, 'float32');
  if (descr === '<i8') return tf.tensor(Int32Array.from(data, Number), shape, 'int32');
  if (descr === '|b1') return tf.tensor(Uint8Array.from(data, (v) => (v ? 1 : 0)), shape, 'bool');
  return tf.tensor(Int32Array.from(data), shape, 'int32');
}

// numbers as compared: a bool is 0 or 1 whatever byte holds it, float16 bits are decoded
function numbers({ descr, data }) {
  if (descr === '|b1') return Array.from(data, (v) => (v ? 1 : 0));
  if (descr === '<f2') return float16Values(data);
  return data;
}

// the largest |a - b|; NaN where both are NaN is alike, NaN on one side only is NaN
function largestDifference(out, outBool, other) {
  if (!other || other.data.length !== out.length) return null;
  const theirs = numbers(other);
  let worst = 0;
  for (let i = 0; i < out.length; i++) {
    const a = outBool ? (out[i] ? 1 : 0) : Number(out[i]);
    const b = Number(theirs[i]);
    if (Number.isNaN(a) && Number.isNaN(b)) continue;
    const d = Math.abs(a - b);
    if (Number.isNaN(d)) return NaN;
    if (d > worst) worst = d;
  }
  return worst;
}

async function main() {
  const step = (await import('./step.js')).default;
  const backend = query.get('backend') || step.backend;
  const source = query.get('tfjs') || 'vendor';
  const urls = source === 'vendor'
    ? { tfjs: 'vendor/tf.min.js', wasm: 'vendor/tf-backend-wasm.min.js', wasm_paths: 'vendor/', webgpu: 'vendor/tf-backend-webgpu.min.js' }
    : source === 'cdn' ? step.cdn
      : { tfjs: source, wasm: query.get('wasm'), wasm_paths: query.get('wasmPaths'), webgpu: query.get('webgpu') };
  if (backend === 'wasm' && (!urls.wasm || !urls.wasm_paths)) {
    throw new Error('?tfjs=URL on the wasm backend needs &wasm=URL (tf-backend-wasm.min.js) and &wasmPaths=URL (its folder)');
  }
  if (backend === 'webgpu' && !urls.webgpu) throw new Error('?tfjs=URL on webgpu needs &webgpu=URL');
  await script(urls.tfjs);
  await script('vendor/dicomParser.min.js'); // for an op that imports dicom-parser
  if (backend === 'wasm') {
    await script(urls.wasm);
    tf.wasm.setWasmPaths(new URL(urls.wasm_paths, location.href).href);
  }
  if (backend === 'webgpu') await script(urls.webgpu);
  for (const [name, value] of Object.entries(step.flags || {})) tf.env().set(name, value);
  const accepted = await tf.setBackend(backend);
  await tf.ready();
  if (!accepted || tf.getBackend() !== backend) {
    throw new Error(`backend ${backend} did not start here (TF.js runs ${tf.getBackend()})`);
  }
  const module = await import(`./${step.module}`);
  const op = step.custom ? module[step.custom.js_export] : module.ops[step.op];
  const x = tensorOf(await npy('input.npy'));
  const y = await op(x, step.js);
  const out = await y.data();
  const reference = await npy('reference.npy');
  const harness = await npy('isolated.npy');
  const result = {
    backend: tf.getBackend(),
    tfjs: tf.version.tfjs,
    flags: Object.fromEntries(Object.keys(step.flags || {}).map((k) => [k, tf.env().get(k)])),
    shape: y.shape,
    dtype: y.dtype,
    max_abs_vs_reference: largestDifference(out, y.dtype === 'bool', reference),
    max_abs_vs_harness: largestDifference(out, y.dtype === 'bool', harness),
  };
  const link = document.getElementById('download');
  link.href = URL.createObjectURL(npyBytes(out, y.shape));
  link.hidden = false;
  return result;
}

main().then(
  (result) => {
    globalThis.reproResult = result;
    document.getElementById('result').textContent = JSON.stringify(result, null, 2);
  },
  (e) => {
    globalThis.reproResult = { error: `${e && e.message ? e.message : e}` };
    document.getElementById('result').textContent = `error: ${globalThis.reproResult.error}`;
  },
);
