// The page the harness drives: picks a backend (and proves it is the one running), runs a
// pipeline's JS steps, and sends every stage's tensor back as raw bytes (a Blob POST).
import { ops } from './ops.js';
import { describeValue, loadExport, runTapped } from './code.js';
import { check, fault, guard, watchBackend } from './gpu.js';
import { tensorValues } from './values.js';

const tf = globalThis.tf;
const state = { token: null, backend: null, models: {} };

// Which step the page is on, said on the console as it starts each: the harness reads it to
// bound each step's time (--timeout) and, when the page hangs or its renderer dies, to name
// the step that was running (a dead page cannot be asked).
function progress(what, name) {
  console.debug(`parity:${what} ${name}`);
}

// Loads each model step's TF.js model once per page. A LayersModel gets a second model that
// outputs every layer; a GraphModel is asked for the nodes the harness lists (`nodes`, the
// converted graph's computing nodes, which Python evaluates under the same names).
async function loadModels(steps) {
  for (const step of steps) {
    if (step.op !== 'model' || state.models[step.params.url]) continue;
    try {
      state.models[step.params.url] = await loadModel(step.params);
    } catch (e) {
      const error = new Error(`TF.js cannot load the converted model: ${e && e.message ? e.message : e}`);
      error.stage = step.name;
      throw error;
    }
  }
}

async function loadModel({ url, format, nodes }) {
  if (format === 'graph') {
    const model = await tf.loadGraphModel(url);
    return { model, names: nodes, capture: { predict: (x) => executeGraph(model, x, nodes) } };
  }
  const model = await tf.loadLayersModel(url);
  const layers = comparedLayers(model);
  const outputs = layers.map((l) => l.getOutputAt(modelNode(l)));
  const capture = tf.model({ inputs: model.inputs, outputs });
  return { model, capture, names: layers.map((l) => l.name) };
}

// A GraphModel's nodes: synchronously, or for a graph with control flow or dynamic ops (while
// loops, NonMaxSuppression, TensorList), which TF.js refuses to run synchronously, with
// executeAsync (tfjs-converter executor/graph_model.ts).
async function executeGraph(model, feed, nodes) {
  try {
    return model.execute(feed, nodes);
  } catch (e) {
    if (!/executeAsync/.test(`${e && e.message}`)) throw e;
    return model.executeAsync(feed, nodes);
  }
}

// Every layer but the InputLayer (a functional model lists it first, a Sequential model not at
// all), as harness/ops/tf_models.py compares them.
function comparedLayers(model) {
  return model.layers.filter((l) => l.getClassName() !== 'InputLayer' && !Array.isArray(l.getOutputAt(modelNode(l))));
}

// A compared layer runs alone on Python's values only when every layer it reads is captured at
// the call it reads (a layer called twice is captured at its last call) and through its first
// output; as harness/ops/tf_models.py `unisolated` says.
function isolable(layer, captured) {
  const node = layer.inboundNodes[modelNode(layer)];
  return node.inboundLayers.every((source, i) => source.getClassName() === 'InputLayer'
    || (captured.has(source.name) && node.tensorIndices[i] === 0 && node.nodeIndices[i] === modelNode(source)));
}

// The layer's call inside this model: its last inbound node (a nested model also has the node
// of its own construction).
function modelNode(layer) {
  return layer.inboundNodes.length - 1;
}

// Most ops are synchronous and run in tf.tidy; an async op (decode: it may inflate the file
// first) is awaited, and creates no tensor but its result.
async function apply(op, x, params) {
  return op.isAsync ? op(x, params) : tf.tidy(() => op(x, params));
}

// The step's op: the catalogue's, or the user's own (its module named in the step, loaded once
// per page) checked to give back a tensor.
async function opFor(step) {
  if (!step.module) {
    if (!ops[step.op]) throw new Error(`op ${step.op} is not in the page's catalogue`);
    return ops[step.op];
  }
  const fn = await loadExport(step.module, step.export);
  const op = async (x, params) => {
    const y = await fn(x, params);
    if (!(y instanceof tf.Tensor)) {
      throw Object.assign(new Error(`the custom op '${step.op}' returned ${describeValue(y)}, not a tf.Tensor`), { uncomparable: true });
    }
    return y;
  };
  op.isAsync = true;
  return op;
}

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
  if (accepted && active === backend) watchBackend(active);
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

const WIRE = { float32: Float32Array, int32: Int32Array, uint8: Uint8Array, bool: Uint8Array };

function tensorFromWire({ dtype, shape, data }) {
  // TF.js has no uint8 dtype: uint8 values are held as int32, exactly.
  if (dtype === 'uint8') return tf.tensor(Int32Array.from(data), shape, 'int32');
  return tf.tensor(data, shape, dtype);
}

// Fetches the bundle of inputs the harness offered under `key`: {name: {dtype, shape, data}}.
async function fetchInputs(key) {
  const res = await fetch(`/input/${encodeURIComponent(key)}`, {
    headers: { 'X-Parity-Token': state.token },
  });
  if (!res.ok) throw new Error(`input ${key}: HTTP ${res.status} ${await res.text()}`);
  return unpack(await res.arrayBuffer());
}

// Bundle layout (harness/core/tensors.py): uint32 LE header length, JSON header padded to 8 bytes,
// payload; one request for many tensors, which is most of the speed for small ones.
function unpack(buffer) {
  const size = new DataView(buffer).getUint32(0, true);
  const start = 4 + size;
  const entries = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, size)));
  const out = {};
  for (const e of entries) {
    if (!(e.dtype in WIRE)) throw new Error(`input dtype ${e.dtype} is not supported by the page`);
    const View = WIRE[e.dtype];
    out[e.name] = {
      dtype: e.dtype,
      shape: e.shape,
      data: new View(buffer, start + e.offset, e.nbytes / View.BYTES_PER_ELEMENT),
    };
  }
  return out;
}

function pack(items) {
  const entries = [];
  const parts = [];
  let offset = 0;
  for (const { name, dtype, shape, data } of items) {
    if (!(dtype in WIRE)) {
      throw new Error(`stage ${name}: dtype ${dtype} cannot be sent back (float32, int32, bool or uint8 only)`);
    }
    const count = shape.reduce((a, b) => a * b, 1);
    if (!(data instanceof WIRE[dtype]) || data.length !== count) {
      throw new Error(`stage ${name}: a ${dtype} tensor of shape [${shape}] holds a ${data.constructor.name} of ${data.length} values`);
    }
    const pad = (8 - (offset % 8)) % 8;
    if (pad) parts.push(new Uint8Array(pad));
    offset += pad;
    entries.push({ name, dtype, shape, offset, nbytes: data.byteLength });
    parts.push(data);
    offset += data.byteLength;
  }
  const json = JSON.stringify(entries);
  const pad = (8 - ((new TextEncoder().encode(json).length + 4) % 8)) % 8;
  const header = new TextEncoder().encode(json + ' '.repeat(pad));
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, header.length, true);
  return new Blob([length, header, ...parts]);
}

async function post(key, dtype, shape, body) {
  const res = await fetch(`/upload/${encodeURIComponent(key)}`, {
    method: 'POST',
    headers: { 'X-Parity-Token': state.token, 'X-Parity-Dtype': dtype, 'X-Parity-Shape': shape },
    body,
  });
  // read to its end: until the response is consumed the request, and the Blob it sent, stay
  // alive in Chromium's blob storage, and a large stage's slices fill it (the upload after
  // about 500 MB fails with net::ERR_BLOB_OUT_OF_MEMORY; measured with Chromium 150)
  const said = await res.text();
  if (!res.ok) throw new Error(`upload of ${key} refused: HTTP ${res.status} ${said}`);
}

// One tensor: `data` is what tensor.data() gives (bool tensors give a Uint8Array of 0/1), or raw
// bytes (a Uint8Array sent as 'uint8', e.g. decoded pixels before they become a tensor).
async function upload(key, dtype, shape, data) {
  if (!(dtype in WIRE)) {
    throw new Error(`dtype ${dtype} cannot be sent back (float32, int32, bool or uint8 only)`);
  }
  await post(key, dtype, shape.join(','), new Blob([data]));
}

// Several tensors in one request, stored by the harness as `${key}/${name}`.
async function uploadBundle(key, items) {
  await post(key, 'bundle', '', pack(items));
}

// Runs the steps on the input and keeps every stage in the page for the harness to pull.
// Never throws: a failure is returned with the stage it happened in, and every stage finished
// before it is kept. With `repeat`, runs the steps a second time on the same bytes and compares
// the two passes here, bit for bit, so determinism costs compute but no transfer; the second
// pass runs a model as an app does (its output, not every layer), which halves its cost.
// The first stages, up to `eagerBytes` in all, are also sent as each step ends (before the
// next starts): a step that hangs or kills the page then leaves the stages before it with the
// harness, which compares them.
async function run({ runId, steps, inputKey, repeat, eagerBytes = 0 }) {
  const items = [];
  const computeMs = {};
  let failure = null;
  let determinism = null;
  const t0 = performance.now();
  let input = null;
  let eager = 0; // bytes sent so far
  let unsent = 0; // index of the first stage not sent yet
  const sendEarly = async () => {
    const batch = [];
    while (unsent < items.length && eager + items[unsent].data.byteLength <= eagerBytes) {
      eager += items[unsent].data.byteLength;
      batch.push(items[unsent]);
      unsent += 1;
    }
    if (unsent < items.length) eagerBytes = 0; // only the first stages, in order
    if (batch.length) await uploadBundle(runId, batch);
  };
  try {
    input = await fetchInputs(inputKey);
    await runSteps(steps, input, computeMs, (name, t, data) => {
      items.push({ name, dtype: t.dtype, shape: t.shape, data });
    }, true, sendEarly);
  } catch (e) {
    failure = describeError(e);
  }
  if (repeat && !failure) {
    const start = performance.now();
    determinism = { identical: true, max_abs: 0 };
    try {
      const first = new Map(items.map((item) => [item.name, item.data]));
      await runSteps(steps, input, {}, (name, t, data) => {
        const d = difference(first.get(name), data);
        determinism = {
          identical: determinism.identical && d.identical,
          max_abs: Math.max(determinism.max_abs, d.max_abs),
        };
      }, false, null, 'repeat');
    } catch (e) {
      determinism = { identical: false, max_abs: null, error: describeError(e).message };
    }
    computeMs.repeat = performance.now() - start;
  }
  hold(runId, items);
  return {
    stages: describe(items).map((d, i) => ({ ...d, sent: i < unsent })),
    failure,
    determinism,
    backend: tf.getBackend(),
    fault: fault(),
    timings_ms: { total: performance.now() - t0, compute: computeMs },
  };
}

// Bring-your-own code: the user's module (`module`, its export `exportName`) runs on the case's
// file and its taps are the stages. A module that fails to load or throws is the failure, with
// the last tap reached; the taps before it are kept.
async function runCode({ runId, inputKey, module, exportName, fileName }) {
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

// The chained pass: `onStage(name, tensor, data)` for the input (each input `input/<name>`, for
// a case with several) and after every step (and every layer of a model step, unless `layers`
// is false; each output `<step>/<node>` of a model with several). A thrown error carries its
// stage.
// `mark`: the progress mark said as each step starts ('repeat' in the repeat pass, so a hang
// there is told from one in the chained pass).
async function runSteps(steps, given, computeMs, onStage, layers = true, afterStep = null, mark = 'step') {
  let x = inputFromWire(given);
  let current = 'input';
  let previous = 'input';
  try {
    check();
    if (x instanceof tf.Tensor) onStage('input', x, await tensorValues(x));
    else for (const [name, t] of Object.entries(x)) onStage(`input/${name}`, t, await tensorValues(t));
    if (afterStep) await afterStep();
    for (const step of steps) {
      current = step.name;
      progress(mark, step.name);
      if (!(x instanceof tf.Tensor) && step.op !== 'model') throw severalTensors(previous, x, step.name);
      const op = step.op === 'model' ? null : await opFor(step);
      if (step.op === 'model') await loadModels([step]); // once per page; earlier stages kept
      const start = performance.now();
      let y;
      if (step.op === 'model') {
        const layered = layers && step.params.layers;
        const outs = await guard(layered ? modelLayers(step, x, onStage) : predictModel(step, x));
        const { outputs } = step.params;
        if (outputs.length === 1) {
          y = outs[outputs[0].node];
        } else {
          if (!layered) { // captured with the layers, each output is a stage already
            const data = await guard(Promise.all(outputs.map((p) => tensorValues(outs[p.node]))));
            check();
            outputs.forEach((p, i) => onStage(`${step.name}/${p.node}`, outs[p.node], data[i]));
          }
          computeMs[step.name] = performance.now() - start;
          disposeAll(x);
          x = Object.fromEntries(outputs.map((p) => [p.name, outs[p.node]]));
          previous = step.name;
          if (afterStep) await afterStep();
          continue;
        }
      } else {
        y = await guard(apply(op, x, step.params));
      }
      const data = await guard(tensorValues(y)); // waits for the GPU and reads back
      check(); // the step's values are not kept when it lost the GPU or switched the backend
      computeMs[step.name] = performance.now() - start;
      disposeAll(x);
      x = y;
      previous = step.name;
      onStage(step.name, y, data);
      if (afterStep) await afterStep();
    }
  } catch (e) {
    throw atStage(e, current);
  } finally {
    disposeAll(x);
  }
}

// The case's input: one tensor (`input`), or several by a model's input names (`input/<name>`).
function inputFromWire(given) {
  if (given.input) return tensorFromWire(given.input);
  const named = Object.entries(given).filter(([k]) => k.startsWith('input/'));
  if (!named.length) throw new Error('the harness sent no input');
  return Object.fromEntries(named.map(([k, w]) => [k.slice('input/'.length), tensorFromWire(w)]));
}

function disposeAll(x) {
  if (x instanceof tf.Tensor) x.dispose();
  else if (x) Object.values(x).forEach((t) => t.dispose());
}

// As harness/runtimes/python_ref.py says it: a step after a stage that is several tensors.
function severalTensors(stage, x, step) {
  const names = Object.keys(x);
  return new Error(
    `'${stage}' is ${names.length} tensors (${names.join(', ')}) and step '${step}' takes one: ` +
    "a model with several outputs must be the pipeline's last step, several inputs feed only a model",
  );
}

// The model's input(s) as its predict/execute takes them: a LayersModel the tensors in its
// input order, a GraphModel a map by input node. `x`: one tensor, or tensors by input name.
function modelFeed(step, x) {
  const { inputs, format } = step.params;
  const names = inputs.map((p) => p.name);
  let byName = x;
  if (x instanceof tf.Tensor) {
    if (inputs.length !== 1) {
      throw new Error(`the model takes ${inputs.length} inputs (${names.join(', ')}) and is given one tensor`);
    }
    byName = { [names[0]]: x };
  }
  const missing = names.filter((n) => !(n in byName));
  if (missing.length) throw new Error(`the model takes inputs ${names.join(', ')}; ${missing.join(', ')} not given`);
  if (format === 'graph') return Object.fromEntries(inputs.map((p) => [p.node, byName[p.name]]));
  if (inputs.length === 1) return byName[names[0]];
  // by name, in the order the page's model takes them (the user's own model may list its
  // inputs in another order than the Python model)
  const byNode = Object.fromEntries(inputs.map((p) => [p.node, byName[p.name]]));
  const order = state.models[step.params.url].model.inputNames;
  const unknown = order.filter((n) => !(n in byNode));
  if (unknown.length) throw new Error(`the TF.js model's inputs ${unknown.join(', ')} are not the Python model's (${names.join(', ')})`);
  return order.map((n) => byNode[n]);
}

// The model's outputs as an app gets them (predict; a GraphModel executes its output nodes),
// by output node.
async function predictModel(step, x) {
  const { model } = state.models[step.params.url];
  const { outputs } = step.params;
  const feed = modelFeed(step, x);
  let outs = step.params.format === 'graph'
    ? await executeGraph(model, feed, outputs.map((p) => p.node))
    : model.predict(feed);
  if (!Array.isArray(outs)) outs = [outs];
  if (outs.length !== outputs.length) {
    outs.forEach((t) => t.dispose());
    throw new Error(`the model gave ${outs.length} outputs; its model.json declares ${outputs.length}`);
  }
  return Object.fromEntries(outputs.map((p, i) => [p.node, outs[i]]));
}

// A call's stages stay in the page until the harness pulls them, a batch at a time, as it
// compares (so the harness holds one batch, not every layer of every backend), then releases.
const held = new Map(); // runId -> Map(stage name -> {name, dtype, shape, data})

function hold(runId, items) {
  held.set(runId, new Map(items.map((item) => [item.name, item])));
}

function describe(items) {
  return items.map(({ name, dtype, shape, data }) => ({ name, dtype, shape, nbytes: data.byteLength }));
}

// Uploads the named held stages of a call in one bundle (`${runId}/${name}` on the harness).
async function send({ runId, names }) {
  const stages = held.get(runId);
  if (!stages) throw new Error(`no stages are held for call ${runId} (released, or the page reloaded)`);
  await uploadBundle(runId, names.map((name) => {
    if (!stages.has(name)) throw new Error(`stage ${name} is not held for call ${runId}`);
    return stages.get(name);
  }));
}

// Uploads `count` elements of one held stage from element `start`, as a flat tensor
// (`${runId}/${name}#${start}` on the harness): a large stage goes in slices, compared as each
// arrives, so neither side holds it twice and no request body is larger than a slice.
async function sendSlice({ runId, name, start, count }) {
  const stage = (held.get(runId) || new Map()).get(name);
  if (!stage) throw new Error(`stage ${name} is not held for call ${runId} (released, or the page reloaded)`);
  // as a Blob: a typed array as the body is 7x slower in Chromium 150 (256 MB: 64 s vs 9 s)
  const slice = stage.data.subarray(start, start + count);
  await post(`${runId}/${name}#${start}`, stage.dtype, String(slice.length), new Blob([slice]));
}

function release({ runId }) {
  held.delete(runId);
}

// Every layer's output as stage `${step}/${layer}`; returns the model's outputs by node (the
// layers or nodes the model declares as outputs, which are among those captured).
// All readbacks are started at once: on webgl/webgpu the GPU->CPU copies overlap (about half
// the time of reading them one after the other, tfjs-parity bench model).
async function modelLayers(step, x, onStage) {
  const { capture, names } = state.models[step.params.url];
  let outs = await capture.predict(modelFeed(step, x));
  if (!Array.isArray(outs)) outs = [outs];
  const data = await Promise.all(outs.map(tensorValues));
  const wanted = new Set(step.params.outputs.map((p) => p.node));
  const kept = {};
  for (let i = 0; i < outs.length; i++) {
    onStage(`${step.name}/${names[i]}`, outs[i], data[i]);
    if (wanted.has(names[i]) && !(names[i] in kept)) kept[names[i]] = outs[i];
    else outs[i].dispose();
  }
  const lost = [...wanted].filter((n) => !(n in kept));
  if (lost.length) {
    Object.values(kept).forEach((t) => t.dispose());
    throw new Error(`the model's output(s) ${lost.join(', ')} are not among its captured layers`);
  }
  return kept;
}

// What was thrown (code may throw a string, null, undefined: anything), as an Error that says
// the stage it was thrown at.
function atStage(e, stage) {
  const error = e !== null && typeof e === 'object' ? e : new Error(`${e}`);
  try {
    error.stage = stage;
  } catch {
    return Object.assign(new Error(`${error.message || error}`), { stage });
  }
  return error;
}

function describeError(e) {
  return {
    stage: e.stage || 'input',
    message: `${e && e.message ? e.message : e}`,
    stack: e && e.stack,
    fault: !!(e && e.fault), // the page lost its GPU or backend: not the step's numbers
    uncomparable: !!(e && e.uncomparable), // what the step gave back cannot be compared
  };
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

// Runs each step on its own input (the Python reference's input to that stage, in the bundle
// under the step's name): the stage's own error, without what earlier stages passed on. Steps
// are independent, so a failing one does not stop the others. Outputs go up in one bundle.
async function runIsolated({ runId, steps, inputKey }) {
  const items = [];
  const failures = [];
  const computeMs = {};
  try {
    await loadModels(steps);
  } catch (e) {
    failures.push(describeError(e)); // that model's step fails alone; the others still run
  }
  const inputs = await fetchInputs(inputKey);
  for (const step of steps) {
    if (step.op === 'model' && !state.models[step.params.url]) continue;
    progress('step', step.name);
    let x = null;
    let y = null;
    try {
      const start = performance.now();
      if (step.op === 'model') {
        // fed by input node ("<step>/<node>", which its first layers read too)
        x = Object.fromEntries(step.params.inputs.map((p) => [p.name, tensorFromWire(inputs[`${step.name}/${p.node}`])]));
        y = await guard(predictModel(step, x));
        const { outputs } = step.params;
        const alone = outputs.length === 1 ? [[step.name, y[outputs[0].node]]]
          : step.params.layers ? [] : outputs.map((p) => [`${step.name}/${p.node}`, y[p.node]]);
        for (const [name, t] of alone) {
          items.push({ name, dtype: t.dtype, shape: t.shape, data: await guard(tensorValues(t)) });
        }
        check();
      } else {
        x = tensorFromWire(inputs[step.name]);
        const op = await opFor(step);
        y = await guard(apply(op, x, step.params));
        const data = await guard(tensorValues(y));
        check();
        items.push({ name: step.name, dtype: y.dtype, shape: y.shape, data });
      }
      computeMs[step.name] = performance.now() - start;
      if (step.op === 'model' && step.params.layers) {
        await isolatedParts(step, inputs, items, failures, computeMs);
      }
    } catch (e) {
      const error = atStage(e, step.name);
      failures.push(describeError(error));
      if (error.fault) break; // the page can run nothing more
    } finally {
      disposeAll(x);
      disposeAll(y);
    }
  }
  hold(runId, items);
  return {
    stages: describe(items),
    failures,
    backend: tf.getBackend(),
    fault: fault(),
    timings_ms: { compute: computeMs },
  };
}

// Each layer (LayersModel) or node (GraphModel) of a model step run alone on Python's values
// of what it reads (bundle items `${step}/${source}`): its own error. All run first, then every
// readback at once (overlapping GPU copies).
async function isolatedParts(step, inputs, items, failures, computeMs) {
  const start = performance.now();
  const done = [];
  for (const { part, sources, compute } of modelParts(step)) {
    const name = `${step.name}/${part}`;
    const xs = [];
    try {
      for (const source of sources) {
        const wire = inputs[`${step.name}/${source}`];
        if (!wire) throw new Error(`no Python value of ${source} to feed ${part}`);
        xs.push(tensorFromWire(wire));
      }
      done.push({ name, y: await guard(compute(xs)) });
    } catch (e) {
      if (e && e.fault) throw e; // the page can run nothing more: the model step fails with it
      failures.push(describeError(atStage(e, name)));
    } finally {
      xs.forEach((t) => t.dispose());
    }
  }
  const data = await guard(Promise.all(done.map(({ y }) => tensorValues(y))));
  check();
  done.forEach(({ name, y }, i) => {
    items.push({ name, dtype: y.dtype, shape: y.shape, data: data[i] });
    y.dispose();
  });
  computeMs[`${step.name}/parts`] = performance.now() - start;
}

// What each layer or node reads and how to run it alone: a layer is applied to its inbound
// layers' values; a graph executes from any node given in its feed dict (`feeds`: the inputs
// of each node the harness can feed).
function modelParts(step) {
  const { model } = state.models[step.params.url];
  if (step.params.format === 'graph') {
    return Object.entries(step.params.feeds).map(([node, sources]) => ({
      part: node,
      sources,
      compute: (xs) => executeGraph(model, Object.fromEntries(sources.map((s, i) => [s, xs[i]])), node),
    }));
  }
  const layers = comparedLayers(model);
  const captured = new Set(layers.map((l) => l.name));
  return layers.filter((layer) => isolable(layer, captured)).map((layer) => ({
    part: layer.name,
    sources: layer.inboundNodes[modelNode(layer)].inboundLayers.map((l) => l.name),
    compute: (xs) => tf.tidy(() => layer.apply(xs.length === 1 ? xs[0] : xs)),
  }));
}

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
  const { model } = state.models[params.url];
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

window.parity = {
  init,
  run,
  runCode,
  runIsolated,
  send,
  sendSlice,
  release,
  decodeFile,
  ops: () => Object.keys(ops),
  backend: () => tf.getBackend(),
  fault,
  upload,
  difference,
  bench: {
    prepare: benchPrepare,
    upload: ({ key }) => upload(key, 'float32', [bench.array.length], bench.array),
    naive: benchNaive,
    inference: benchInference,
  },
};
