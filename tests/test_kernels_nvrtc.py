"""Every CUDA kernel of minigan/cuda_kernels.py, compiled by NVRTC for sm_80 and sm_90 from the
source CuPy itself generates for it, without a GPU.

On a GPU, CuPy turns an ElementwiseKernel call into CUDA C++ (typedefs, the parameters as
``CArray<T, ndim, c_contiguous, 32-bit indexing>``, scalars and a ``CIndexer``, the body inside
a ``CUPY_FOR`` loop), prepends its headers and compiles it with NVRTC. The same happens here
through CuPy's own functions (``cupy._core._kernel._get_elementwise_kernel_code``,
``core.assemble_cupy_compiler_options``), with the options CuPy adds on the way
(``-ftz=true``, ``-arch=sm_NN``, ``--device-as-default-execution-space``) and NVRTC from the
package index (``nvidia-cuda-nvrtc-cu12``), which needs no driver. What a GPU would choose at
run time and this cannot know is the array layouts; each kernel is compiled in both float
types for a contiguous 1-D call with 32-bit indexing and a strided 4-D call with 64-bit
indexing, the two ends of what CuPy's ``CArray`` templates take (the body is the same text in
every variant). So a C++ error in a kernel fails here, in CI.

Needs ``cupy-cuda12x`` (or 13x), ``nvidia-cuda-nvrtc-cu12`` and ``nvidia-cuda-runtime-cu12``
(the CUDA headers); skipped with the reason when one is missing, unless
``MINIGAN_REQUIRE_NVRTC=1`` (CI sets it once it has installed them): then that is a failure.
"""
import os

import numpy as np
import pytest

from minigan import cuda_kernels

REQUIRED = os.environ.get("MINIGAN_REQUIRE_NVRTC") == "1"
ARCHS = (80, 90)
# (ndim, c_contiguous, 32-bit indexing) of the non-raw arrays and the indexer
LAYOUTS = {"contiguous-1d-int32": (1, True, True), "strided-4d-int64": (4, False, False)}
RAW_NDIM = {"img": 4, "col": 2}  # im2col's image (C, H, W, N) and col2im's columns; other raw arrays: the layout's


def nvrtc_available() -> bool:
    """Whether this test can run here: CuPy imports and NVRTC loads."""
    try:
        from cupy.cuda import compiler
        compiler._get_nvrtc_version()
    except Exception:  # noqa: BLE001 (not installed, or the library not found)
        return False
    return True


def _missing(reason):
    if REQUIRED:
        pytest.fail(f"MINIGAN_REQUIRE_NVRTC=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def cupy_compiler():
    """CuPy's code generation and its NVRTC front end, or a skip that says what is missing."""
    try:
        import cupy
    except ImportError:
        _missing("CuPy is not installed (pip install cupy-cuda12x nvidia-cuda-nvrtc-cu12 nvidia-cuda-runtime-cu12)")
    from cupy._core import _carray, _kernel, _scalar, core
    from cupy.cuda import compiler
    try:
        version = compiler._get_nvrtc_version()
    except Exception as err:  # the library is looked for on first use
        _missing(f"NVRTC cannot be loaded ({type(err).__name__}: {err}; pip install nvidia-cuda-nvrtc-cu12)")
    try:
        options = core.assemble_cupy_compiler_options(())
    except RuntimeError as err:
        _missing(f"the CUDA headers are not found ({err}; pip install nvidia-cuda-runtime-cu12)")
    header = "".join(f"#include <{h}>\n" for h in core._cupy_header_list)  # compile_with_cache prepends these
    return cupy, _kernel, _scalar, _carray, compiler, version, header, options + ("-ftz=true",)


def _arginfos(kernel, dtype, layout, cuda):
    """The _ArgInfo of each argument of a call, as ElementwiseKernel.__call__ builds them."""
    cupy, _kernel, _scalar, _carray = cuda[:4]
    ndim, contiguous, index32 = layout
    scalars = cuda_kernels.scalar_inputs(kernel.name)
    is_array = [p.raw or not p.is_const or p.name not in scalars for p in kernel.in_params + kernel.out_params]
    in_dtypes = tuple(dtype if a else None for a, _ in zip(is_array, kernel.in_params))
    in_types, out_types, type_map = _kernel._decide_params_type(
        kernel.in_params, kernel.out_params, in_dtypes, (dtype,) * len(kernel.out_params))
    infos = []
    for p, array, t in zip(kernel.in_params + kernel.out_params, is_array, in_types + out_types):
        if not array:
            infos.append(_kernel._ArgInfo(3, _scalar.CScalar, t, 0, True, True))  # ARG_KIND_SCALAR
        elif p.raw and p.name in RAW_NDIM:
            infos.append(_kernel._ArgInfo(1, cupy.ndarray, t, RAW_NDIM[p.name], True, index32))  # ARG_KIND_NDARRAY
        else:
            infos.append(_kernel._ArgInfo(1, cupy.ndarray, t, ndim, contiguous, index32))
    # with every array raw, the call gives size= and CuPy indexes a 1-D range
    all_raw = all(p.raw for p, array in zip(kernel.in_params + kernel.out_params, is_array) if array)
    infos.append(_kernel._ArgInfo(2, _carray.Indexer, None, 1 if all_raw else ndim, True, index32))  # ARG_KIND_INDEXER
    return tuple(infos), type_map


def _source(name, dtype, layout, cuda):
    cupy, _kernel, header = cuda[0], cuda[1], cuda[6]
    in_params, out_params, body, preamble = cuda_kernels.spec(name)
    kernel = cupy.ElementwiseKernel(in_params, out_params, body, name, preamble=preamble)
    arginfos, type_map = _arginfos(kernel, np.dtype(dtype), layout, cuda)
    code = _kernel._get_elementwise_kernel_code(arginfos, type_map, kernel.params, kernel.operation,
                                                kernel.name, kernel.preamble)
    return header + code


@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=LAYOUTS.keys())
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(cuda_kernels.KERNELS))
def test_kernel_compiles_with_nvrtc_from_cupys_own_source(cupy_compiler, name, dtype, layout):
    compiler, options = cupy_compiler[4], cupy_compiler[7]
    source = _source(name, dtype, layout, cupy_compiler)
    ctype = {"float32": "float", "float64": "double"}[dtype]
    ndim, contiguous, index32 = layout
    assert f'extern "C" __global__ void {name}(' in source and f"typedef {ctype} T;" in source
    assert f"CIndexer<{ndim}, {int(index32)}> _ind" in source or f"CIndexer<1, {int(index32)}> _ind" in source
    for arch in ARCHS:
        program = compiler._NVRTCProgram(source, f"{name}.cu", method="cubin")
        try:
            cubin, _ = program.compile(options + (f"-arch=sm_{arch}", "--device-as-default-execution-space"))
        except compiler.CompileException as err:
            pytest.fail(f"{name} ({dtype}, sm_{arch}) does not compile with NVRTC "
                        f"{cupy_compiler[5]}:\n{err}\n--- source ---\n{source}")
        assert cubin[:4] == b"\x7fELF" and name.encode() in cubin


def test_a_cuda_error_fails_the_compile(cupy_compiler):
    """The check itself: a body with an undefined name does not compile."""
    compiler, options = cupy_compiler[4], cupy_compiler[7]
    source = _source("minigan_adam", "float32", LAYOUTS["contiguous-1d-int32"], cupy_compiler)
    broken = source.replace("sqrt(v)", "sqrtt(v)")
    assert broken != source
    with pytest.raises(compiler.CompileException, match='identifier "sqrtt" is undefined'):
        compiler._NVRTCProgram(broken, "broken.cu", method="cubin").compile(
            options + ("-arch=sm_90", "--device-as-default-execution-space"))
