// Model steps in the page: each step's TF.js model loaded once per page, run as an app runs it
// (predict) or with every layer (LayersModel) or listed node (GraphModel) captured as a stage
// of its own, and each layer or node run alone on Python's values of what it reads.
import { tensorValues } from './values.js';

const tf = globalThis.tf;
const models = {}; // url -> {model, capture, names}

// The model loaded from `url` ({model, capture, names}), or undefined.
export function modelOf(url) {
  return models[url];
}

// The step's model is loaded (its load may have failed: the step then fails alone).
export function hasModel(step) {
  return Boolean(models[step.params.url]);
}

// Loads each model step's TF.js model once per page. A LayersModel gets a second model that
// outputs every layer; a GraphModel is asked for the nodes the harness lists (`nodes`, the
// converted graph's computing nodes, which Python evaluates under the same names).
export async function loadModels(steps) {
  for (const step of steps) {
    if (step.op !== 'model' || models[step.params.url]) continue;
    try {
      models[step.params.url] = await loadModel(step.params);
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
// all), as harness/ops/keras_layers.py compares them.
function comparedLayers(model) {
  return model.layers.filter((l) => l.getClassName() !== 'InputLayer' && !Array.isArray(l.getOutputAt(modelNode(l))));
}

// A compared layer runs alone on Python's values only when every layer it reads is captured at
// the call it reads (a layer called twice is captured at its last call) and through its first
// output; as harness/ops/keras_layers.py `unisolated` says.
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
  const order = models[step.params.url].model.inputNames;
  const unknown = order.filter((n) => !(n in byNode));
  if (unknown.length) throw new Error(`the TF.js model's inputs ${unknown.join(', ')} are not the Python model's (${names.join(', ')})`);
  return order.map((n) => byNode[n]);
}

// The model's outputs as an app gets them (predict; a GraphModel executes its output nodes),
// by output node.
export async function predictModel(step, x) {
  const { model } = models[step.params.url];
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

// Every layer's output as stage `${step}/${layer}`; returns the model's outputs by node (the
// layers or nodes the model declares as outputs, which are among those captured).
// All readbacks are started at once: on webgl/webgpu the GPU->CPU copies overlap (about half
// the time of reading them one after the other, tfjs-parity bench model).
export async function modelLayers(step, x, onStage) {
  const { capture, names } = models[step.params.url];
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

// What each layer or node reads and how to run it alone: a layer is applied to its inbound
// layers' values; a graph executes from any node given in its feed dict (`feeds`: the inputs
// of each node the harness can feed).
export function modelParts(step) {
  const { model } = models[step.params.url];
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

