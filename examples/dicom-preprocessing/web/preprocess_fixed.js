// The fixed TF.js side: bilinear on the half-pixel grid, what the fixed Python resize computes.
import * as tf from '@tensorflow/tfjs';
import { readDicom } from './preprocess.js';

export async function preprocess({ bytes }, tap = () => {}) {
  const { image, rows, cols, stats: [mean, std] } = readDicom(bytes);
  const pixels = tf.tensor3d(Float32Array.from(image), [rows, cols, 1], 'float32');
  tap('pixels', pixels);
  const normalized = pixels.sub(mean).div(std);
  tap('normalize', normalized);
  const resized = tf.image.resizeBilinear(normalized, [224, 224], false, true);
  tap('resize', resized);
  const tiled = tf.tile(resized, [1, 1, 3]);
  tap('tile', tiled);
  const batch = tiled.expandDims();
  tap('batch', batch);
  return batch;
}
