// The motivating user's TF.js preprocessing, as they wrote it (their snippet, made a module),
// with taps where they want Python compared. `tap` defaults to doing nothing.
import * as tf from '@tensorflow/tfjs';
import dicomParser from 'dicom-parser';

// `${BitsStored}/${PhotometricInterpretation}` -> [mean, std]
export const STATS = {
  '12/MONOCHROME1': [-3384.9893000000002, 1190.0708513300835],
  '12/MONOCHROME2': [978.31200000000001, 1092.2426342420442],
  '14/MONOCHROME1': [-9798.6993999999995, 7104.607118190255],
};

export function readDicom(bytes) {
  const ds = dicomParser.parseDicom(new Uint8Array(bytes));
  const rows = ds.uint16('x00280010');
  const cols = ds.uint16('x00280011');
  const key = `${ds.uint16('x00280101')}/${ds.string('x00280004')}`;
  if (!(key in STATS)) throw new Error(`no normalisation for ${key}`);
  const pixel = ds.elements.x7fe00010;
  const data = ds.byteArray.slice(pixel.dataOffset, pixel.dataOffset + rows * cols * 2);
  const image = ds.uint16('x00280103') === 1 ? new Int16Array(data.buffer) : new Uint16Array(data.buffer);
  return { image, rows, cols, stats: STATS[key] };
}

export async function preprocess({ bytes }, tap = () => {}) {
  const { image, rows, cols, stats: [mean, std] } = readDicom(bytes);
  const pixels = tf.tensor3d(Float32Array.from(image), [rows, cols, 1], 'float32');
  tap('pixels', pixels);
  const normalized = pixels.sub(mean).div(std);
  tap('normalize', normalized);
  const resized = tf.image.resizeNearestNeighbor(normalized, [224, 224]);
  tap('resize', resized);
  const tiled = tf.tile(resized, [1, 1, 3]);
  tap('tile', tiled);
  const batch = tiled.expandDims();
  tap('batch', batch);
  return batch;
}
