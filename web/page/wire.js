// The tensor wire format, the page's half (harness/core/tensors.py is the Python half; both
// decode the vectors in fixtures/wire/). A bundle carries several tensors in one request:
// uint32 little-endian header length H, H bytes of JSON header (padded with spaces to a
// multiple of 8), then the payload; each header entry is {name, dtype, shape, offset, nbytes},
// every tensor 8-byte aligned from the payload's start. One request for many tensors is most
// of the speed for small ones. Pure functions: no TF.js, no network (Node runs them too).

export const WIRE = { float32: Float32Array, int32: Int32Array, uint8: Uint8Array, bool: Uint8Array };

// {name: {dtype, shape, data}} from a bundle's bytes; `data` views `buffer` (no copy).
export function unpack(buffer) {
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

// A bundle (a Blob) of [{name, dtype, shape, data}], `data` the typed array WIRE names for dtype.
export function pack(items) {
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
