// Bring-your-own code: the user's ES module runs on the case's file and calls
// `tap(name, tensor)` where it wants a comparison. Each tapped tensor is kept (cloned, so the
// user's dispose() or tf.tidy() cannot free it) and read once the function is done.
import { check, fault, guard } from './gpu.js';
import { describe, fetchInputs, hold } from './transfer.js';
import { tensorValues } from './values.js';

const tf = globalThis.tf;

// Imports the module (served under /user/...) and returns its export `name`.
export async function loadExport(url, name) {
  let module;
  try {
    module = await import(url);
  } catch (e) {
    throw Object.assign(new Error(`the JS module ${url} failed to load: ${e && e.message ? e.message : e}`), { stack: e && e.stack, loading: true });
  }
  const fn = module[name];
  if (typeof fn !== 'function') {
    const exported = Object.keys(module).join(', ') || 'nothing';
    throw Object.assign(new Error(`the JS module ${url} has no function export '${name}' (it exports: ${exported})`), { loading: true });
  }
  return fn;
}

// Runs `fn(file, tap)`; returns the taps in call order as {name, dtype, shape, data}, and the
// error (with the last tap reached) if the code threw. `file`: {name, bytes: ArrayBuffer}.
export async function runTapped(fn, file) {
  const kept = [];
  const names = new Set();
  let last = null;
  const tap = (name, tensor) => {
    if (typeof name !== 'string' || !name) throw new Error(`tap(name, tensor): the name must be a non-empty string, got ${JSON.stringify(name)}`);
    if (names.has(name)) throw new Error(`tap '${name}' is used twice: each tap names one comparison, give each a name of its own`);
    if (!(tensor instanceof tf.Tensor)) {
      throw new Error(`tap '${name}': ${describeValue(tensor)} is not a tf.Tensor (tap the tensor itself; build one with tf.tensor(...) if you hold an array)`);
    }
    if (tensor.isDisposed) throw new Error(`tap '${name}': the tensor is already disposed`);
    check(); // the GPU lost or the backend switched since the last tap: this tap is not kept
    names.add(name);
    kept.push({ name, tensor: tf.keep(tensor.clone()) });
    last = name;
    window.parityConsole.progress(`tap ${name}`); // the harness bounds the time between taps by it
  };
  let error = null;
  try {
    await guard(fn(file, tap)); // a lost GPU ends it at once (gpu.js)
  } catch (e) {
    error = { message: `${e && e.message ? e.message : e}`, stack: e && e.stack, lastTap: last, fault: !!(e && e.fault) };
  }
  const why = error ? null : fault();
  if (why) error = { message: why, stack: null, lastTap: last, fault: true, after: true }; // after its last tap
  const items = [];
  for (const { name, tensor } of kept) {
    try {
      // a tap's values still on a GPU that was lost are lost with it
      items.push({ name, dtype: tensor.dtype, shape: tensor.shape, data: await guard(tensorValues(tensor)) });
    } catch (e) {
      error = error || { message: `tap '${name}': ${e && e.message ? e.message : e}`, stack: e && e.stack, lastTap: name, tap: name };
    } finally {
      tensor.dispose();
    }
  }
  return { items, error };
}

export function describeValue(v) {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  if (Array.isArray(v)) return 'an Array';
  return `a ${typeof v === 'object' ? v.constructor?.name || 'object' : typeof v}`;
}

// Bring-your-own code: the user's module (`module`, its export `exportName`) runs on the case's
// file and its taps are the stages. A module that fails to load or throws is the failure, with
// the last tap reached; the taps before it are kept.
export async function runCode({ runId, inputKey, module, exportName, fileName }) {
  const t0 = performance.now();
  const computeMs = {};
  let items = [];
  let failure = null;
  try {
    const fn = await loadExport(module, exportName);
    const file = (await fetchInputs(inputKey)).file;
    const start = performance.now();
    const out = await runTapped(fn, { name: fileName, bytes: file.data.slice().buffer });
    computeMs.code = performance.now() - start;
    items = out.items;
    failure = out.error;
  } catch (e) {
    failure = { message: `${e && e.message ? e.message : e}`, stack: e && e.stack, lastTap: null, loading: !!(e && e.loading) };
  }
  hold(runId, items);
  return {
    stages: describe(items),
    failure,
    backend: tf.getBackend(),
    fault: fault(),
    timings_ms: { total: performance.now() - t0, compute: computeMs },
  };
}
