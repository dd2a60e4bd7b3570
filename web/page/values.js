// A tensor's values as the typed array its dtype calls for. TF.js's lossless casts (int32 ->
// float32, bool -> int32) keep the input's storage on the cpu, webgl and webgpu backends, so
// tensor.data() can hand back an Int32Array for a float32 tensor or a Uint8Array for an int32
// one (tfjs-core's cast kernels return the input's dataId when the values need no change); wasm
// copies. Sent as they are, those bytes would be read under the declared dtype as other numbers.
const ARRAYS = { float32: Float32Array, int32: Int32Array, bool: Uint8Array };

export async function tensorValues(tensor) {
  const View = ARRAYS[tensor.dtype];
  if (!View) {
    throw Object.assign(new Error(`a ${tensor.dtype} tensor cannot be compared: the harness reads float32, int32 and bool`), { uncomparable: true });
  }
  const data = await tensor.data();
  if (data instanceof View) return data;
  return tensor.dtype === 'bool' ? Uint8Array.from(data, (v) => (v ? 1 : 0)) : View.from(data);
}
