// Faults that leave the page unable to run another case: a lost WebGL context or WebGPU device
// (the GPU process was killed or reset, or the page's code called WEBGL_lose_context's
// loseContext() or GPUDevice.destroy()), after which every op fails ("The Device was lost") or
// never finishes (a WebGL fence that never signals); and the page's code switching TF.js's
// backend (tf.setBackend to another, even if it switches back: what ran in between ran there;
// tf.removeBackend; tf.engine().reset(), which disposes every backend). The step that was
// running fails at once with the cause (`error.fault` set), and the harness replaces the page.
const tf = globalThis.tf;
const watch = { backend: null, gl: null, lost: null, switched: null, reject: null, signal: null };

// Starts watching the backend `init` proved is running ('cpu', 'wasm', 'webgl', 'webgpu').
export function watchBackend(backend) {
  watch.backend = backend;
  watchEngine();
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

// The call may come from code an earlier case left running (a timer, a promise), not the step
// that was running when it came.
const LATER = '; in this step, or in a timer or promise that earlier code on this page left running';

// tf.setBackend, tf.removeBackend and tf.engine().reset() all go through the engine (tfjs-core
// engine.ts), whichever import the code used: its methods are wrapped to note the call.
function watchEngine() {
  const engine = tf.engine();
  const said = {
    setBackend: (name) => `the page's code called tf.setBackend('${name}'), switching TF.js's backend from ${watch.backend} (what ran after it ran there, even if it switched back)${LATER}`,
    removeBackend: (name) => `the page's code called tf.removeBackend('${name}')${LATER}`,
    reset: () => `the page's code called tf.engine().reset(), which disposes every backend${LATER}`,
  };
  for (const [method, say] of Object.entries(said)) {
    const original = engine[method];
    if (original.parityWatched) continue;
    const wrapped = function watched(...args) {
      const same = method === 'setBackend' && args[0] === watch.backend && tf.getBackend() === watch.backend;
      if (!same && !watch.switched) watch.switched = say(...args);
      return original.apply(this, args);
    };
    wrapped.parityWatched = true;
    engine[method] = wrapped;
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
  if (watch.switched) return watch.switched;
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
