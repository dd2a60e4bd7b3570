// A pipeline's steps in the page: the chained pass (each step on the one before, every stage
// kept), the repeat pass (determinism, compared here), and the isolated pass (each step on
// Python's input to it). Each step says on the console when it starts, and every await of a
// step is raced against the page losing its GPU or backend (gpu.js).
import { describeValue, loadExport } from './code.js';
import { check, fault, guard } from './gpu.js';
import { hasModel, loadModels, modelLayers, modelParts, predictModel } from './models.js';
import { ops } from './ops.js';
import {
  describe, fetchInputs, hold, inputFromWire, tensorFromWire, uploadBundle,
} from './transfer.js';
import { tensorValues } from './values.js';

const tf = globalThis.tf;

// Which step the page is on, said on the console as it starts each: the harness reads it to
// bound each step's time (--timeout) and, when the page hangs or its renderer dies, to name
// the step that was running (a dead page cannot be asked). Awaited: a driver that polls the
// page (WebDriver) gets the mark before the step runs, even a step that never yields
// (console.js settle).
export function progress(what, name) {
  window.parityConsole.progress(`${what} ${name}`);
  return window.parityConsole.settle();
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

// Runs the steps on the input and keeps every stage in the page for the harness to pull.
// Never throws: a failure is returned with the stage it happened in, and every stage finished
// before it is kept. With `repeat`, runs the steps a second time on the same bytes and compares
// the two passes here, bit for bit, so determinism costs compute but no transfer; the second
// pass runs a model as an app does (its output, not every layer), which halves its cost.
// The first stages, up to `eagerBytes` in all, are also sent as each step ends (before the
// next starts): a step that hangs or kills the page then leaves the stages before it with the
// harness, which compares them.
export async function run({ runId, steps, inputKey, repeat, eagerBytes = 0 }) {
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
      await progress(mark, step.name);
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

export function describeError(e) {
  return {
    stage: e.stage || 'input',
    message: `${e && e.message ? e.message : e}`,
    stack: e && e.stack,
    fault: !!(e && e.fault), // the page lost its GPU or backend: not the step's numbers
    uncomparable: !!(e && e.uncomparable), // what the step gave back cannot be compared
  };
}

// Two passes' data: bitwise identical?, and the greatest |a - b| (Infinity where NaN/Inf differ).
export function difference(a, b) {
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
export async function runIsolated({ runId, steps, inputKey }) {
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
    if (step.op === 'model' && !hasModel(step)) continue;
    await progress('step', step.name);
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

