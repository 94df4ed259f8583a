"""minigan.save / minigan.load: pickle-free .npz checkpoints, exact round trips, atomic writes."""
import io as io_module
import math
import os
import random
import subprocess
import sys
import textwrap
import zipfile
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigan
from minigan import io
from minigan.io import CheckpointError, load, save

REPO = Path(__file__).resolve().parents[1]


def assert_same(a, b, where="obj"):
    """Deep equality that also checks types (tuple vs list, int vs float, dtype, device, NaN)."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, minigan.Tensor):
        assert a.device == b.device and a.dtype == b.dtype and a.requires_grad == b.requires_grad, where
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=where)
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for key in a:
            assert type(key) is type(next(k for k in b if k == key and type(k) is type(key)))
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float):
        assert (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b)), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def nested_checkpoint(device="cpu"):
    rng = np.random.default_rng(0)
    return {
        "generator": {
            "conv1.weight": minigan.tensor(rng.standard_normal((2, 1, 3, 3)), dtype="float32",
                                           device=device, requires_grad=True),
            "conv1.bias": minigan.tensor(rng.standard_normal(2), device=device),  # float64
            "steps": minigan.tensor(np.array([3, -4], dtype=np.int64), device=device),
            "scalar": minigan.tensor(np.float32(2.5), device=device),
        },
        "arrays": [np.arange(6, dtype=np.uint8).reshape(2, 3), np.asfortranarray(rng.random((3, 2))),
                   np.array(True), np.array(["a", "bé"]), np.zeros((0, 4), dtype=np.float16)],
        "numbers": (0, -7, 2**200, 0.1, -0.0, float("inf"), float("nan"), True, False),
        "numpy_scalars": [np.float32(1.25), np.int16(-3), np.bool_(True)],
        "strings": ["", "x/y", "ünïcödé", "__minigan__"],
        "nothing": None,
        0: "int key",
        "0": "str key of the same text",
        "a/b": 1,
        "a": {"b": 2},
        "empty": {"dict": {}, "list": [], "tuple": ()},
    }


def test_round_trip_of_nested_tensors_arrays_and_values(tmp_path):
    obj = nested_checkpoint()
    save(obj, tmp_path / "ckpt.npz")
    assert_same(obj, load(tmp_path / "ckpt.npz"))


def test_tensors_load_on_cpu_or_on_the_requested_device(tmp_path):
    obj = nested_checkpoint(device="sim")
    save(obj, tmp_path / "ckpt.npz")
    on_cpu = load(tmp_path / "ckpt.npz")
    assert on_cpu["generator"]["conv1.weight"].device == "cpu"
    np.testing.assert_array_equal(on_cpu["generator"]["steps"].numpy(), [3, -4])
    assert_same(obj, load(tmp_path / "ckpt.npz", device="sim"))
    assert isinstance(load(tmp_path / "ckpt.npz", device="sim")["arrays"][0], np.ndarray)  # arrays stay


def test_a_non_leaf_tensor_is_saved_as_its_values(tmp_path):
    w = minigan.tensor([1.0, 2.0], requires_grad=True)
    save({"y": w * 3}, tmp_path / "c.npz")
    y = load(tmp_path / "c.npz")["y"]
    assert not y.requires_grad and y.creator is None
    np.testing.assert_array_equal(y.numpy(), [3.0, 6.0])


def test_archive_members_are_path_like_and_readable_with_plain_numpy(tmp_path):
    save({"generator": {"conv1.weight": np.ones(2), "layers": [np.zeros(1)]}}, tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz", allow_pickle=False) as npz:
        assert {"generator/conv1.weight", "generator/layers/0", "__minigan__"} == set(npz.files)
        np.testing.assert_array_equal(npz["generator/conv1.weight"], np.ones(2))


def test_random_generator_states_survive_exactly(tmp_path):
    pcg = np.random.default_rng(12345)
    mt = np.random.Generator(np.random.MT19937(7))
    pcg.random(3), mt.random(3)  # move away from the seeded state
    py = random.Random(99)
    minigan.manual_seed(5)
    minigan.randn(4)
    states = {"pcg": pcg.bit_generator.state, "mt": mt.bit_generator.state, "python": py.getstate(),
              "minigan": minigan.backend.rng_state()}
    assert states["pcg"]["state"]["state"] > 2**64  # a 128-bit integer, beyond JSON-safe range
    save(states, tmp_path / "rng.npz")
    expected = (pcg.random(5), mt.random(5), [py.random() for _ in range(5)], minigan.randn(5).numpy())

    restored = load(tmp_path / "rng.npz")
    pcg2, mt2 = np.random.default_rng(), np.random.Generator(np.random.MT19937())
    pcg2.bit_generator.state, mt2.bit_generator.state = restored["pcg"], restored["mt"]
    py2 = random.Random()
    py2.setstate(restored["python"])
    minigan.backend.set_rng_state(restored["minigan"])
    got = (pcg2.random(5), mt2.random(5), [py2.random() for _ in range(5)], minigan.randn(5).numpy())
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(e, g)


plain_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (st.lists(inner, max_size=3) | st.lists(inner, max_size=3).map(tuple)
                   | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=3)),
    max_leaves=12)


@given(obj=plain_values)
def test_any_tree_of_plain_values_round_trips(tmp_path_factory, obj):
    path = tmp_path_factory.mktemp("prop") / "c.npz"
    save(obj, path)
    assert_same(obj, load(path))


# -- what cannot be saved -----------------------------------------------------------------------
Point = namedtuple("Point", "x y")


@pytest.mark.parametrize("obj, match", [
    ({"a": [1, np.array([{}, None], dtype=object)]}, r"obj\['a'\]\[1\].*object.*pickle"),
    ({"a": {1, 2}}, r"cannot save set at obj\['a'\]"),
    ({"p": Point(1, 2)}, r"cannot save Point at obj\['p'\]"),
    ({1.5: "x"}, r"dict keys must be str or int, got 1.5"),
    ({True: "x"}, r"dict keys must be str or int, got True"),
    ({"c": 1 + 2j}, r"cannot save complex"),
])
def test_unsupported_objects_are_refused_naming_where_they_are(tmp_path, obj, match):
    with pytest.raises(TypeError, match=match):
        save(obj, tmp_path / "c.npz")
    assert os.listdir(tmp_path) == []


def test_a_container_holding_itself_is_refused(tmp_path):
    loop = [1]
    loop.append({"again": loop})
    with pytest.raises(ValueError, match=r"list at obj\[1\]\['again'\] contains itself"):
        save(loop, tmp_path / "c.npz")


def test_saving_into_a_missing_directory_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save({}, tmp_path / "nope" / "c.npz")


# -- atomic writes ------------------------------------------------------------------------------
@pytest.mark.parametrize("crash", [OSError("No space left on device (simulated)"), KeyboardInterrupt()])
def test_a_crash_mid_save_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, monkeypatch, crash):
    path = tmp_path / "ckpt.npz"
    save({"step": 1, "w": np.ones(3)}, path)
    real_write = io._write_member
    written = []

    def write_one_then_crash(zf, key, array):
        if written:
            raise crash
        written.append(key)
        real_write(zf, key, array)

    monkeypatch.setattr(io, "_write_member", write_one_then_crash)
    with pytest.raises(type(crash)):
        save({"step": 2, "w": np.zeros(3), "extra": np.zeros(1000)}, path)
    assert written, "the simulated crash must happen after part of the file was written"
    assert os.listdir(tmp_path) == ["ckpt.npz"]
    assert_same(load(path), {"step": 1, "w": np.ones(3)})


def test_a_killed_process_mid_save_keeps_the_old_file(tmp_path):
    path = tmp_path / "ckpt.npz"
    save({"step": 1}, path)
    child = textwrap.dedent(f"""
        import os, sys
        import numpy as np
        from minigan import io
        real_write = io._write_member
        def write_then_die(zf, key, array):
            real_write(zf, key, array)
            zf.fp.flush()
            os._exit(3)  # the process dies here, mid-archive, without any cleanup
        io._write_member = write_then_die
        io.save({{"step": 2, "w": np.zeros(100000)}}, sys.argv[1])
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", child, str(path)], env=env, timeout=60)
    assert done.returncode == 3
    assert load(path) == {"step": 1}
    leftovers = [p for p in os.listdir(tmp_path) if p != "ckpt.npz"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".ckpt.npz.")  # a dead process cannot clean up


def test_saving_over_an_existing_file_replaces_it(tmp_path):
    save({"a": 1}, tmp_path / "c.npz")
    save({"b": [2.0]}, tmp_path / "c.npz")
    assert load(tmp_path / "c.npz") == {"b": [2.0]}
    assert os.listdir(tmp_path) == ["c.npz"]


# -- bad files ----------------------------------------------------------------------------------
def _write_npz(path, manifest_json: str, **arrays):
    with zipfile.ZipFile(path, "w") as zf:
        for key, array in {"__minigan__": np.frombuffer(manifest_json.encode(), np.uint8), **arrays}.items():
            with zf.open(key + ".npy", "w") as member:
                np.lib.format.write_array(member, array, allow_pickle=True)


def _npy_bytes(array) -> bytes:
    buffer = io_module.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_pickled_data_is_never_loaded(tmp_path):
    path = tmp_path / "evil.npz"
    _write_npz(path, '{"format": "minigan-checkpoint", "version": 1, "tree": {"t": "ndarray", "key": "x"}}',
               x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(CheckpointError, match=r"evil\.npz is corrupt: unreadable array.*allow_pickle=False"):
        load(path)


@pytest.mark.parametrize("damage, match", [
    (lambda data: data[: len(data) // 2], r"not an \.npz \(zip\) archive"),
    (lambda data: b"", r"not an \.npz \(zip\) archive \(0 bytes"),
    (lambda data: _npy_bytes(np.ones(3)), r"not an \.npz \(zip\) archive"),
    (lambda data: data.replace(b"\x00\x00\x80\x3f" * 4, b"\x00\x00\x80\x40" * 4, 1), r"corrupt or truncated.*CRC"),
])
def test_damaged_files_raise_a_clear_error_naming_the_file(tmp_path, damage, match):
    path = tmp_path / "ckpt.npz"
    save({"w": np.ones(64, dtype=np.float32)}, path)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CheckpointError, match=r"ckpt\.npz.*" + match):
        load(path)


def test_a_malformed_array_member_is_reported(tmp_path):
    path = tmp_path / "c.npz"
    _write_npz(path, '{"format": "minigan-checkpoint", "version": 1, "tree": {"t": "ndarray", "key": "w"}}')
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("w.npy", b"\x93NUMPY garbage")
    with pytest.raises(CheckpointError, match=r"c\.npz is corrupt: unreadable array"):
        load(path)


def test_a_foreign_npz_is_not_taken_for_a_checkpoint(tmp_path):
    np.savez(tmp_path / "other.npz", weights=np.ones(2))
    with pytest.raises(CheckpointError, match=r"other\.npz is an \.npz file but not a minigan checkpoint"):
        load(tmp_path / "other.npz")


@pytest.mark.parametrize("manifest, match", [
    ("{not json", "manifest is not valid JSON"),
    ('{"format": "something-else", "version": 1, "tree": {}}', "not a minigan checkpoint manifest"),
    ('{"format": "minigan-checkpoint", "version": 99, "tree": {"t": "none"}}', "format version 99"),
    ('{"format": "minigan-checkpoint", "version": 1, "tree": {"t": "tensor", "key": "gone"}}',
     "array 'gone' named in the manifest is missing"),
    ('{"format": "minigan-checkpoint", "version": 1, "tree": {"t": "int", "v": 5}}', "corrupt manifest entry"),
    ('{"format": "minigan-checkpoint", "version": 1, "tree": {"t": "frobnicate"}}', "unknown entry type"),
])
def test_bad_manifests_raise_a_clear_error(tmp_path, manifest, match):
    _write_npz(tmp_path / "c.npz", manifest)
    with pytest.raises(CheckpointError, match=r"c\.npz.*" + match):
        load(tmp_path / "c.npz")


def test_loading_a_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no checkpoint file at .*missing\.npz"):
        load(tmp_path / "missing.npz")
