"""The Python side of the op catalogue (numpy, scikit-image, TF; a model step runs Keras or the
converted graph), TF's resize kernels in numpy, and each op's float terms. Imports conversion and
below."""
