// Reading and writing NumPy .npy files (format 1.0-3.0, little endian, C order): enough for
// the arrays a repro pack holds. https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
const TYPES = {
  '<f4': Float32Array, '<f8': Float64Array, '<i4': Int32Array, '<i2': Int16Array,
  '<u2': Uint16Array, '<u4': Uint32Array, '|u1': Uint8Array, '|i1': Int8Array, '|b1': Uint8Array,
  '<i8': BigInt64Array, '<f2': Uint16Array, // float16: its bits, read by float16Values
};

// IEEE 754 half precision bits -> numbers
export function float16Values(bits) {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i];
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    out[i] = exponent === 0 ? sign * 2 ** -14 * (fraction / 1024)
      : exponent === 31 ? (fraction ? NaN : sign * Infinity)
        : sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
  }
  return out;
}

export function parseNpy(buffer) {
  const bytes = new Uint8Array(buffer);
  if (String.fromCharCode(...bytes.slice(1, 6)) !== 'NUMPY') throw new Error('not a .npy file');
  const major = bytes[6];
  const view = new DataView(buffer);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.slice(start, start + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (fortran) throw new Error('Fortran-ordered arrays are not read');
  const Type = TYPES[descr];
  if (!Type) throw new Error(`dtype ${descr} is not read here`);
  const offset = start + headerLength;
  const data = new Type(buffer.slice(offset));
  return { descr, shape, data };
}

export function npyBytes(data, shape) {
  const descr = data instanceof Float32Array ? '<f4' : data instanceof Int32Array ? '<i4' : '|u1';
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = new Uint8Array(10 + header.length);
  head.set([0x93, ...new TextEncoder().encode('NUMPY'), 1, 0]);
  new DataView(head.buffer).setUint16(8, header.length, true);
  head.set(new TextEncoder().encode(header), 10);
  return new Blob([head, data]);
}
