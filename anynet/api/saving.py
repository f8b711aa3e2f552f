"""Saving a :class:`anynet.Network` to files other programs read:
``save`` (an anynet checkpoint, or safetensors weights by the name's suffix)
and ``to_onnx`` (an ONNX model)."""

from __future__ import annotations

from ..io import checkpoint, safetensorsfile


class Saving:
    """The saving methods of Network (a mixin: it uses the network's ``_params``)."""

    def save(self, filename, *, allow_nonfinite=False):
        """Save the network to ``filename``: a pickle-free ``.npz`` checkpoint
        (see :mod:`anynet.io.checkpoint`), or, when the name ends in
        ``.safetensors``, the weights as safetensors (tensors
        ``layers.{i}.weight`` and ``layers.{i}.bias``, the configuration in
        the metadata; see :mod:`anynet.io.safetensorsfile`; needs ``pip install
        'anynet-nndl[safetensors]'``).  ``anynet.load(filename)`` reads either
        back onto any backend.  NaN or inf weights are refused unless
        ``allow_nonfinite``.  The file is replaced atomically."""
        self._params()
        if safetensorsfile.is_safetensors_name(filename):
            safetensorsfile.save(self._model, filename, seed=self.seed, classes=self.classes,
                                 allow_nonfinite=allow_nonfinite)
        else:
            checkpoint.save(self._model, filename, seed=self.seed, classes=self.classes, class_names=self.class_names,
                            allow_nonfinite=allow_nonfinite)

    def to_onnx(self, path, *, overwrite=False):
        """Write the network to ``path`` as an ONNX model (opset 17, IR version
        8): input ``"input"`` of shape ``(N, sizes[0])``, output ``"output"``
        ``(N, sizes[-1])``, N dynamic, in the network's dtype; ONNX Runtime's
        outputs equal :meth:`predict_proba`'s (see :mod:`anynet.io.onnxexport`;
        needs ``pip install 'anynet-nndl[onnx]'``).  The write is atomic; an
        existing file with other content is refused unless ``overwrite``.
        Returns the path as a :class:`pathlib.Path`."""
        from ..io import onnxexport

        self._params()
        return onnxexport.export(self, path, overwrite=overwrite)
