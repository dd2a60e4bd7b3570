// Starting a backend and proving it is the one running: TF.js falls back to another backend
// when one cannot start (tf.setBackend returns false), and a silent fallback must never pass
// as the backend asked for. Also what the backend can do (precision, WebGL version, SIMD...).
import { watchBackend } from './gpu.js';
import { setToken } from './transfer.js';

const tf = globalThis.tf;

export async function init({ backend, flags, token, wasmPaths }) {
  setToken(token);
  for (const [name, value] of Object.entries(flags)) tf.env().set(name, value);
  if (backend === 'wasm') tf.wasm.setWasmPaths(wasmPaths);
  let accepted = false;
  const unsupported = await missing(backend);
  let error = unsupported;
  if (unsupported === null) try {
    accepted = await tf.setBackend(backend);
    await tf.ready();
  } catch (e) {
    error = `${e && e.message ? e.message : e}`;
  }
  // tf.setBackend returns false, and TF.js falls back to another backend, when one cannot start.
  const active = tf.getBackend();
  if (accepted && active === backend) watchBackend(active);
  return {
    requested: backend,
    active,
    accepted,
    error,
    unsupported, // the browser lacks what the backend needs: a skip, with this reason
    flags: Object.fromEntries(Object.keys(flags).map((k) => [k, tf.env().get(k)])),
    capabilities: await capabilities(active),
  };
}

// Why a backend cannot start in this browser, when the browser says so plainly (TF.js itself
// only logs a warning and falls back): WebGPU needs navigator.gpu and an adapter.
async function missing(backend) {
  if (backend !== 'webgpu') return null;
  if (!window.isSecureContext) {
    return 'the page is not a secure context (plain http from a name other than localhost), '
      + 'and WebGPU needs one: serve it over https or a loopback tunnel';
  }
  if (!navigator.gpu) return 'this browser exposes no WebGPU (navigator.gpu is undefined)';
  try {
    if (!(await navigator.gpu.requestAdapter())) {
      return 'this browser has WebGPU but navigator.gpu.requestAdapter() gave no adapter';
    }
  } catch (e) {
    return `navigator.gpu.requestAdapter() failed: ${e && e.message ? e.message : e}`;
  }
  return null;
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
