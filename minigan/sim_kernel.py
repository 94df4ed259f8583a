"""``sim.ElementwiseKernel``: CuPy's user-defined elementwise kernels, compiled for the CPU.

minigan's CUDA kernels (minigan/cuda_kernels.py) are CuPy ElementwiseKernels: a loop body in
CUDA C++ that runs once per output element ``i``. CI has no GPU, so this stand-in compiles the
*same body* with the host's C++ compiler into a plain ``for (i = 0; i < n; ++i)`` loop and runs
it on the sim device's arrays. Index arithmetic, bounds checks and sums are then tested for
real; only the GPU-specific parts (launch, NVRTC) are not.

It is strict, and supports only what minigan's kernels use, raising ``NotImplementedError``
for the rest:

- parameters are ``"TYPE name"`` or ``"raw TYPE name"``; TYPE is a NumPy dtype name (float32,
  float64, int32, int64, uint64) or a one-letter placeholder bound by the first array passed for it;
- a ``preamble`` (helper functions) goes before the kernel, as in CuPy;
- every output array is passed by the caller (no allocation); non-raw inputs broadcast to
  the outputs' shape; ``raw`` arrays are indexed with flat C-order indices; when every array
  is raw, ``size=`` gives the number of loop indices (CuPy's rule);
- in the body, ``i`` is the element index, a non-raw input is that element's value, a non-raw
  output a reference to it, and a raw array a pointer; ``_ind.size()`` is the element count.
"""
from __future__ import annotations

import atexit
import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile

import numpy as np

C_TYPES = {"float32": ("float", ctypes.c_float), "float64": ("double", ctypes.c_double),
           "int32": ("int", ctypes.c_int32), "int64": ("long long", ctypes.c_int64),
           "uint64": ("unsigned long long", ctypes.c_uint64)}
_compiled = {}  # C++ source -> ctypes function
_build_dir = None


def compiler():
    """The host C++ compiler's path ($CXX, then c++, g++, clang++), or None."""
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _parse(params: str, output: bool) -> list:
    """'raw T img, int32 h' -> [(raw, type, name, output), ...]"""
    parsed = []
    for part in filter(None, (p.strip() for p in params.split(","))):
        words = part.split()
        raw = words[0] == "raw"
        if raw:
            words = words[1:]
        if len(words) != 2:
            raise ValueError(f"ElementwiseKernel: cannot parse parameter {part!r} (expect 'TYPE name' or 'raw TYPE name')")
        if words[1] in ("i", "n") or words[1].startswith("_"):
            raise ValueError(f"ElementwiseKernel: parameter name {words[1]!r} is reserved by CuPy")
        parsed.append((raw, words[0], words[1], output))
    return parsed


class ElementwiseKernel:
    """``cupy.ElementwiseKernel(in_params, out_params, operation, name)``, run on the CPU."""

    def __init__(self, in_params: str, out_params: str, operation: str, name: str = "kernel", preamble: str = ""):
        self.params = _parse(in_params, False) + _parse(out_params, True)
        self.operation, self.name, self.preamble = operation, name, preamble

    def __call__(self, *args, size=None):
        from .sim import calls, ndarray  # sim imports this module
        calls[self.name] += 1
        if len(args) != len(self.params):
            raise NotImplementedError(f"{self.name}: the stand-in needs all {len(self.params)} arguments, "
                                      f"outputs included; got {len(args)}")
        types = self._bind_types(args, ndarray)
        if size is not None:  # CuPy's rule: size is given exactly when every array is raw
            if any(isinstance(a, ndarray) and not raw for (raw, _, _, _), a in zip(self.params, args)):
                raise ValueError(f"{self.name}: size can be given only when every array argument is raw")
            outputs, shape = [a for (_, _, _, out), a in zip(self.params, args) if out], (int(size),)
        else:
            outputs = [a for (raw, _, _, out), a in zip(self.params, args) if out and not raw]
            if not outputs or not all(isinstance(a, ndarray) for a in outputs):
                raise NotImplementedError(f"{self.name}: the stand-in needs its non-raw outputs passed as sim "
                                          "arrays, or size= when every array is raw")
            shape = outputs[0]._a.shape
        kinds, values, copies = [], [], []
        for (raw, type_name, name, out), arg in zip(self.params, args):
            dtype = np.dtype(types[type_name])
            if not isinstance(arg, ndarray):
                if raw or out:
                    raise TypeError(f"{self.name}: {name} must be a sim array, got {type(arg).__name__}")
                kinds.append("scalar")
                values.append(C_TYPES[dtype.name][1](arg))
                continue
            if arg._a.dtype != dtype:
                raise TypeError(f"{self.name}: {name} is {arg._a.dtype}, expected {dtype}")
            array = arg._a
            if not raw and array.shape != shape:
                if out:
                    raise ValueError(f"{self.name}: output {name} has shape {array.shape}, the first output {shape}")
                try:  # inputs broadcast against the outputs, as in CuPy
                    array = np.broadcast_to(array, shape)
                except ValueError:
                    raise ValueError(f"{self.name}: {name} of shape {array.shape} does not broadcast "
                                     f"to the output shape {shape}") from None
            buffer = np.ascontiguousarray(array)  # element i is the i-th in C order
            if out and buffer is not arg._a:
                copies.append((arg._a, buffer))  # written back after the loop
            kinds.append("raw" if raw else "array")
            values.append(buffer.ctypes.data_as(ctypes.c_void_p))
        self._compile(types, tuple(kinds))(ctypes.c_int64(int(np.prod(shape))), *values)
        for target, buffer in copies:
            target[...] = buffer
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def _bind_types(self, args, ndarray) -> dict:
        """Each type name -> a dtype name; a placeholder takes the dtype of its first array."""
        types = {t: t for t in C_TYPES}
        for (_, type_name, name, _), arg in zip(self.params, args):
            if type_name in types:
                continue
            if len(type_name) != 1 or not type_name.isupper():
                raise NotImplementedError(f"{self.name}: type {type_name!r} of {name} is not supported")
            if isinstance(arg, ndarray):
                if arg._a.dtype.name not in C_TYPES:
                    raise NotImplementedError(f"{self.name}: dtype {arg._a.dtype} of {name} is not supported")
                types[type_name] = arg._a.dtype.name
        for _, type_name, name, _ in self.params:
            if type_name not in types:
                raise TypeError(f"{self.name}: type placeholder {type_name} of {name} is bound by no array")
        return types

    def source(self, types: dict, kinds: tuple, cuda: bool = False) -> str:
        """The body in a loop over i: a C++ function, or with ``cuda`` a CUDA kernel with a
        grid-stride loop (which ``nvcc -c`` can compile-check without a GPU)."""
        typedefs = "".join(f"typedef {C_TYPES[v][0]} {k};\n" for k, v in types.items() if k not in C_TYPES)
        typedefs += "".join(f"typedef {c} {name};\n" for name, (c, _) in C_TYPES.items())
        arguments, bindings = ["long long _n"], []
        for (raw, type_name, name, out), kind in zip(self.params, kinds):
            if kind == "scalar":
                arguments.append(f"const {type_name} {name}")
            elif kind == "raw":
                arguments.append(f"{'' if out else 'const '}{type_name}* {name}")
            else:
                arguments.append(f"{type_name}* _{name}")
                bindings.append(f"{type_name}& {name} = _{name}[i];" if out else f"const {type_name} {name} = _{name}[i];")
        loop = ("for (ptrdiff_t i = blockIdx.x * blockDim.x + threadIdx.x; i < _n; i += blockDim.x * gridDim.x)"
                if cuda else "for (long long i = 0; i < _n; ++i)")
        host = "" if cuda else "#define __host__\n#define __device__\n"
        return (f"{host}#include <cmath>\n#include <cstddef>\n{'' if cuda else 'using namespace std;'}\n{typedefs}"
                "struct _Index { long long n; __host__ __device__ long long size() const { return n; } };\n"
                f"{self.preamble}\n"
                f'extern "C" {"__global__ " if cuda else ""}void {self.name}({", ".join(arguments)}) {{\n'
                "  const _Index _ind = {_n};\n"
                f"  {loop} {{\n    {' '.join(bindings)}\n"
                f"    {self.operation};\n  }}\n}}\n")  # CuPy ends the body with ; too

    def _compile(self, types: dict, kinds: tuple):
        source = self.source(types, kinds)
        if source in _compiled:
            return _compiled[source]
        cxx = compiler()
        if cxx is None:
            raise RuntimeError(f"sim.ElementwiseKernel ({self.name}) needs a C++ compiler (set $CXX or install g++)")
        global _build_dir
        if _build_dir is None:  # one folder per process for the compiled kernels, removed at exit
            _build_dir = tempfile.mkdtemp(prefix="minigan-sim-kernels-")
            atexit.register(shutil.rmtree, _build_dir, True)
        library = os.path.join(_build_dir, hashlib.sha256(source.encode()).hexdigest()[:16] + ".so")
        result = subprocess.run([cxx, "-O1", "-shared", "-fPIC", "-x", "c++", "-", "-o", library],
                                input=source, capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(f"{self.name}: the kernel does not compile:\n{result.stderr}\n--- source ---\n{source}")
        function = getattr(ctypes.CDLL(library), self.name)
        function.restype = None
        function.argtypes = [ctypes.c_int64] + [
            C_TYPES[types[t]][1] if kind == "scalar" else ctypes.c_void_p
            for (_, t, _, _), kind in zip(self.params, kinds)]
        _compiled[source] = function
        return function
