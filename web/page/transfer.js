// Tensors between the page and the harness's loopback server: inputs fetched, stages held in
// the page until the harness pulls them, and uploaded as raw bytes (a Blob POST), every request
// with the run's token.
import { WIRE, pack, unpack } from './wire.js';

const tf = globalThis.tf;
const session = { token: null };

// The token the harness gave `init`: its server accepts nothing without it.
export function setToken(token) {
  session.token = token;
}

export function tensorFromWire({ dtype, shape, data }) {
  // TF.js has no uint8 dtype: uint8 values are held as int32, exactly.
  if (dtype === 'uint8') return tf.tensor(Int32Array.from(data), shape, 'int32');
  return tf.tensor(data, shape, dtype);
}

// The case's input: one tensor (`input`), or several by a model's input names (`input/<name>`).
export function inputFromWire(given) {
  if (given.input) return tensorFromWire(given.input);
  const named = Object.entries(given).filter(([k]) => k.startsWith('input/'));
  if (!named.length) throw new Error('the harness sent no input');
  return Object.fromEntries(named.map(([k, w]) => [k.slice('input/'.length), tensorFromWire(w)]));
}

// Fetches the bundle of inputs the harness offered under `key`: {name: {dtype, shape, data}}.
export async function fetchInputs(key) {
  const res = await fetch(`/input/${encodeURIComponent(key)}`, {
    headers: { 'X-Parity-Token': session.token },
  });
  if (!res.ok) throw new Error(`input ${key}: HTTP ${res.status} ${await res.text()}`);
  return unpack(await res.arrayBuffer());
}

async function post(key, dtype, shape, body) {
  const res = await fetch(`/upload/${encodeURIComponent(key)}`, {
    method: 'POST',
    headers: { 'X-Parity-Token': session.token, 'X-Parity-Dtype': dtype, 'X-Parity-Shape': shape },
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
export async function upload(key, dtype, shape, data) {
  if (!(dtype in WIRE)) {
    throw new Error(`dtype ${dtype} cannot be sent back (float32, int32, bool or uint8 only)`);
  }
  await post(key, dtype, shape.join(','), new Blob([data]));
}

// Several tensors in one request, stored by the harness as `${key}/${name}`.
export async function uploadBundle(key, items) {
  await post(key, 'bundle', '', pack(items));
}

// A call's stages stay in the page until the harness pulls them, a batch at a time, as it
// compares (so the harness holds one batch, not every layer of every backend), then releases.
const held = new Map(); // runId -> Map(stage name -> {name, dtype, shape, data})

export function hold(runId, items) {
  held.set(runId, new Map(items.map((item) => [item.name, item])));
}

export function describe(items) {
  return items.map(({ name, dtype, shape, data }) => ({ name, dtype, shape, nbytes: data.byteLength }));
}

// Uploads the named held stages of a call in one bundle (`${runId}/${name}` on the harness).
export async function send({ runId, names }) {
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
export async function sendSlice({ runId, name, start, count }) {
  const stage = (held.get(runId) || new Map()).get(name);
  if (!stage) throw new Error(`stage ${name} is not held for call ${runId} (released, or the page reloaded)`);
  // as a Blob: a typed array as the body is 7x slower in Chromium 150 (256 MB: 64 s vs 9 s)
  const slice = stage.data.subarray(start, start + count);
  await post(`${runId}/${name}#${start}`, stage.dtype, String(slice.length), new Blob([slice]));
}

export function release({ runId }) {
  held.delete(runId);
}
