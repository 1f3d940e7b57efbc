"""Running a TensorRT engine built by :func:`jndtf.export.tensorrt.build_engine` (GPU only).

Used by the export's parity check on the machine that builds the engine: TensorRT 10 and
cuda-python (``cudart``) must be installed there; :func:`jndtf.export.tensorrt.require_tensorrt`
and :func:`jndtf.export.tensorrt.cuda_runtime` say what to install otherwise.

Example:
    >>> runner = TensorRTRunner("out/acol-tensorrt-fp16.engine")
    >>> jnd = runner(x)            # (1, H, W, C) float32 -> (1, H, W, 3)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from jndtf.export.tensorrt import cuda_check, cuda_runtime, require_tensorrt


class TensorRTRunner:
    """Runs a serialized engine on ``(1, H, W, C)`` float32 network inputs (GPU, cuda-python).

    Args:
        path: the ``.engine`` file.
    """

    def __init__(self, path: str | os.PathLike):
        trt = require_tensorrt("fp32")
        self._cudart = cuda_runtime()
        self._trt = trt
        self.path = Path(path)
        self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self.runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise ValueError(f"{self.path}: TensorRT cannot deserialize it (other GPU/version?)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        mode = trt.TensorIOMode.INPUT
        self.input = next(n for n in names if self.engine.get_tensor_mode(n) == mode)
        self.output = next(n for n in names if self.engine.get_tensor_mode(n) != mode)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``(1, H, W, C)`` float32 -> ``(1, H, W, C_out)`` float32."""
        cudart = self._cudart
        x = np.ascontiguousarray(x, np.float32)
        if x.ndim != 4 or x.shape[0] != 1:
            raise ValueError(f"input must be (1, H, W, C), got {x.shape}")
        self.context.set_input_shape(self.input, tuple(x.shape))
        out_shape = tuple(int(s) for s in self.context.get_tensor_shape(self.output))
        y = np.empty(out_shape, np.float32)
        d_in = cuda_check(cudart.cudaMalloc(x.nbytes))
        d_out = cuda_check(cudart.cudaMalloc(y.nbytes))
        stream = cuda_check(cudart.cudaStreamCreate())
        try:
            h2d = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
            d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
            cuda_check(cudart.cudaMemcpy(d_in, x.ctypes.data, x.nbytes, h2d))
            self.context.set_tensor_address(self.input, int(d_in))
            self.context.set_tensor_address(self.output, int(d_out))
            if not self.context.execute_async_v3(int(stream)):
                raise RuntimeError(f"{self.path.name}: TensorRT execution failed")
            cuda_check(cudart.cudaStreamSynchronize(stream))
            cuda_check(cudart.cudaMemcpy(y.ctypes.data, d_out, y.nbytes, d2h))
        finally:
            cudart.cudaFree(d_in)
            cudart.cudaFree(d_out)
            cudart.cudaStreamDestroy(stream)
        return y


__all__ = ["TensorRTRunner"]
