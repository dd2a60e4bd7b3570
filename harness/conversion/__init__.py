"""Keras / SavedModel -> TF.js conversion (tensorflowjs, cached by content) and TF.js models
shipped in npm packages. Imports the layers below: specs, compare, core."""
