// Faults that leave the page unable to run another case: a lost WebGL context or WebGPU device
// (the GPU process was killed or reset, or the page's code called WEBGL_lose_context's
// loseContext() or GPUDevice.destroy()), after which every op fails ("The Device was lost") or
// never finishes (a WebGL fence that never signals); and a tf.setBackend call in the page's
// code, after which every later case would run on another backend. The step that was running
// fails at once with the cause (`error.fault` set), and the harness replaces the page.
const tf = globalThis.tf;
const watch = { backend: null, gl: null, lost: null, reject: null, signal: null };

// Starts watching the backend `init` proved is running ('cpu', 'wasm', 'webgl', 'webgpu').
export function watchBackend(backend) {
  watch.backend = backend;
  watch.signal = new Promise((_, reject) => { watch.reject = reject; });
  watch.signal.catch(() => {}); // observed by guard(); never an unhandled rejection
  if (backend === 'webgl') {
    // the WebGL context TF.js's backend draws with (tfjs-backend-webgl's GPGPUContext.gl)
    watch.gl = tf.backend().gpgpu.gl;
    watch.gl.canvas.addEventListener('webglcontextlost', () => lose('the WebGL context was lost'));
  } else if (backend === 'webgpu') {
    tf.backend().device.lost.then((info) => {
      const detail = info && info.message ? `: ${info.message}` : '';
      lose(`the WebGPU device was lost (reason ${info ? info.reason : 'unknown'}${detail})`);
    });
  }
}

function lose(why) {
  if (watch.lost) return;
  watch.lost = why;
  watch.reject(faultError(why));
}

function faultError(message) {
  return Object.assign(new Error(message), { fault: true });
}

// What broke the page, in words, or null while it can run the next case.
export function fault() {
  if (!watch.lost && watch.gl && watch.gl.isContextLost()) lose('the WebGL context was lost');
  if (watch.lost) return watch.lost;
  const now = tf.getBackend();
  if (watch.backend && now !== watch.backend) {
    return `TF.js's backend was switched from ${watch.backend} to ${now} (a tf.setBackend call in the page's code)`;
  }
  return null;
}

// Throws the fault (error.fault = true) if there is one.
export function check() {
  const why = fault();
  if (why) throw faultError(why);
}

// `promise`, unless the GPU is lost first: then it rejects at once with the loss, where the
// promise itself could wait forever.
export function guard(promise) {
  return watch.signal ? Promise.race([promise, watch.signal]) : promise;
}
