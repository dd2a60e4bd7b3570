// The page's half of the wire format (web/page/wire.js) on the vectors of fixtures/wire/, under
// Node: each bundle decoded, and each vector's tensors packed again. Prints JSON for
// tests/test_wire.py: {vector: {decoded: {name: {dtype, shape, data_hex}}, packed_hex}}.
import { readFileSync } from 'node:fs';
import { pack, unpack, WIRE } from '../web/page/wire.js';

const dir = new URL('../fixtures/wire/', import.meta.url);
const vectors = JSON.parse(readFileSync(new URL('vectors.json', dir), 'utf8'));
const hex = (view) => Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('hex');
const out = {};
for (const [vector, tensors] of Object.entries(vectors)) {
  const bytes = readFileSync(new URL(`${vector}.bin`, dir));
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const decoded = {};
  for (const [name, t] of Object.entries(unpack(buffer))) {
    decoded[name] = { dtype: t.dtype, shape: t.shape, data_hex: hex(t.data) };
  }
  const items = Object.entries(tensors).map(([name, t]) => {
    const raw = Buffer.from(t.data_hex, 'hex');
    const View = WIRE[t.dtype];
    const copy = new Uint8Array(raw).buffer; // aligned for the typed array
    return { name, dtype: t.dtype, shape: t.shape, data: new View(copy) };
  });
  const packed = new Uint8Array(await pack(items).arrayBuffer());
  out[vector] = { decoded, packed_hex: hex(packed) };
}
console.log(JSON.stringify(out));
