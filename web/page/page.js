// The page the harness drives: starts a backend and proves it is the one running
// (backend.js), runs a pipeline's JS steps (steps.js, models.js) or the user's own code with
// taps (code.js), and sends every stage's tensor back as raw bytes (transfer.js, wire.js). A
// lost GPU or a switched backend ends the step that ran (gpu.js). What the harness calls is
// `window.parity`; hooks for its own tests and benchmarks are in testing.js, not loaded here.
import { init } from './backend.js';
import { runCode } from './code.js';
import { fault } from './gpu.js';
import { run, runIsolated } from './steps.js';
import { release, send, sendSlice } from './transfer.js';

window.parity = { init, run, runCode, runIsolated, send, sendSlice, release, fault };
