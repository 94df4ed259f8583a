"""Untrusted files and servers, by family: checkpoints (minigan.load), IDX files, downloads,
temporary files left by killed writers, DataLoader states. Every bad input must end in the
module's own named error (CheckpointError, DataError, DownloadError, ValueError) with a clear
message, quickly and in bounded memory; never a raw MemoryError, RecursionError or
NotImplementedError, never a silent wrong result."""
import gzip
import http.server
import io as io_module
import json
import os
import random
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import minigan
from minigan import io
from minigan.data import ArrayDataset, DataError, DataLoader, DownloadError, download, read_idx
from minigan.files import STALE_AFTER, remove_stale_temps
from minigan.io import CheckpointError, load, save

REPO = Path(__file__).resolve().parents[1]
GOOD_MANIFEST = {"format": "minigan-checkpoint", "version": 1, "tree": {"t": "ndarray", "key": "x"}}


def npy_header(shape, descr="|u1") -> bytes:
    buffer = io_module.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def npy_bytes(array) -> bytes:
    buffer = io_module.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def write_checkpoint(path, members: dict, manifest=GOOD_MANIFEST, compression=zipfile.ZIP_STORED):
    """A hand-made archive: the manifest, then ``members`` ({name: bytes}) as given."""
    raw = json.dumps(manifest).encode() if isinstance(manifest, dict) else manifest
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        zf.writestr("__minigan__.npy", npy_bytes(np.frombuffer(raw, np.uint8)))
        for name, data in members.items():
            zf.writestr(name, data)


# -- checkpoints ----------------------------------------------------------------------------------
def test_a_zip_bomb_is_refused_before_it_inflates(tmp_path):
    """64 MiB of zeros deflate to ~64 KB: refused from the sizes the archive declares."""
    path = tmp_path / "bomb.npz"
    body = npy_header((64 << 20,)) + bytes(64 << 20)
    write_checkpoint(path, {"x.npy": body}, compression=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 1 << 20  # a small file...
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("x.npy").file_size > 64 << 20  # ...that inflates 1000-fold
    with pytest.raises(CheckpointError, match=r"bomb\.npz is corrupt or hostile: member 'x\.npy' declares "
                                              r"\d+ bytes from \d+ compressed bytes \(a zip bomb\?\)"):
        load(path)


def test_a_member_that_declares_a_gibibyte_in_a_small_file_is_refused(tmp_path):
    """The central directory says 1 GiB (stored) while the file holds a few hundred bytes."""
    path = tmp_path / "liar.npz"
    write_checkpoint(path, {"x.npy": npy_header((4,)) + bytes(4)})
    data = bytearray(path.read_bytes())
    entry = data.rindex(b"PK\x01\x02")  # x.npy's central directory entry
    data[entry + 20:entry + 28] = (1 << 30).to_bytes(4, "little") * 2  # compressed and file size
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"liar\.npz is corrupt or truncated: its members declare \d+ bytes, "
                                              r"the file has \d+"):
        load(path)


def test_an_8_terabyte_shape_in_a_small_member_is_refused_before_allocating(tmp_path):
    path = tmp_path / "huge.npz"
    write_checkpoint(path, {"x.npy": npy_header((1 << 40,), "<f8")})
    with pytest.raises(CheckpointError, match=r"the array 'x' declares shape \(1099511627776,\) float64 "
                                              r"\(8796093022208 bytes\), its member holds 0"):
        load(path)


def test_the_size_cap_is_enforced_and_can_be_raised(tmp_path):
    path = tmp_path / "big.npz"
    save({"w": np.zeros(300_000, dtype=np.float32)}, path)  # 1.2 MB
    with pytest.raises(CheckpointError, match=r"holds \d+ bytes of arrays, more than max_bytes=1000000; "
                                              "if you trust this file, load it with a larger max_bytes"):
        load(path, max_bytes=1_000_000)
    assert load(path, max_bytes=2_000_000)["w"].shape == (300_000,)


def test_a_deflated_checkpoint_of_ordinary_weights_still_loads(tmp_path):
    """Compression itself is allowed (e.g. a checkpoint re-zipped by hand): only the ratio is bounded."""
    weights = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    write_checkpoint(tmp_path / "z.npz", {"x.npy": npy_bytes(weights)}, compression=zipfile.ZIP_DEFLATED)
    np.testing.assert_array_equal(load(tmp_path / "z.npz"), weights)


@pytest.mark.parametrize("depth", [101, 500, 100_000])
def test_a_deeply_nested_manifest_is_a_checkpoint_error(tmp_path, depth):
    if depth <= 1000:  # lists in lists (JSON text: json.dumps itself would recurse too deep)
        tree = '{"t": "list", "items": [' * depth + '{"t": "none"}' + "]}" * depth
    else:  # too deep for the JSON reader itself
        tree = "[" * depth + "]" * depth
    manifest = ('{"format": "minigan-checkpoint", "version": 1, "tree": ' + tree + "}").encode()
    write_checkpoint(tmp_path / "deep.npz", {}, manifest=manifest)
    with pytest.raises(CheckpointError, match="nest"):
        load(tmp_path / "deep.npz")


def test_nesting_up_to_the_limit_round_trips_and_save_refuses_deeper(tmp_path):
    obj = None
    for _ in range(io.MAX_DEPTH):
        obj = [obj]
    save(obj, tmp_path / "ok.npz")
    assert load(tmp_path / "ok.npz") == obj
    with pytest.raises(ValueError, match="nest deeper than 100 levels"):
        save([obj], tmp_path / "deep.npz")


@pytest.mark.parametrize("members, match", [
    ({"x": b"not an array at all"}, r"its member 'x' is not a \.npy array"),
    ({"x.npy": npy_bytes(np.ones(2)), "y.txt": b"hello"}, r"its member 'y\.txt' is not a \.npy array"),
    ({"x.npy": b"\x93NUMPY\x09\x00garbage"}, r"unreadable array 'x'"),
    ({"x.npy": npy_header((3,), "<f4") + bytes(8)}, r"declares shape \(3,\) float32 \(12 bytes\), its member holds 8"),
    ({"x.npy": npy_header((3,), "<f4") + bytes(16)},
     r"declares shape \(3,\) float32 \(12 bytes\), its member holds 16"),
], ids=["no-npy-suffix", "extra-text-member", "bad-npy-version", "short-data", "long-data"])
def test_members_that_are_not_exactly_one_npy_array_are_refused(tmp_path, members, match):
    write_checkpoint(tmp_path / "c.npz", members)
    with pytest.raises(CheckpointError, match=r"c\.npz.*" + match):
        load(tmp_path / "c.npz")


def test_an_unknown_compression_method_is_a_checkpoint_error(tmp_path):
    """A flipped compression-method field used to escape as NotImplementedError."""
    path = tmp_path / "c.npz"
    save({"w": np.ones(64, np.float32)}, path)
    data = bytearray(path.read_bytes())
    for header in (b"PK\x03\x04", b"PK\x01\x02"):  # the method is at +8 (local) and +10 (central)
        start = 0
        while (start := data.find(header, start)) >= 0:
            data[start + (8 if header == b"PK\x03\x04" else 10)] = 99
            start += 4
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="compression method 99"):
        load(path)


def _reference_checkpoint(path):
    state = {"generator": {"w": minigan.tensor(np.arange(12, dtype=np.float32).reshape(4, 3)),
                           "b": minigan.zeros(3)},
             "step": 3, "config": {"lr": 2e-4, "loss": "hinge", "betas": (0.5, 0.999)}, "rng": np.arange(4)}
    save(state, path)
    return load(path)


def _same(a, b) -> bool:
    if isinstance(a, minigan.Tensor):
        return isinstance(b, minigan.Tensor) and a.dtype == b.dtype and np.array_equal(a.numpy(), b.numpy())
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, (dict, list, tuple)):
        return (type(a) is type(b) and len(a) == len(b)
                and all(_same(a[k], b[k]) for k in (a if isinstance(a, dict) else range(len(a)))))
    return type(a) is type(b) and a == b


def test_every_single_bit_flip_and_truncation_is_caught_or_harmless(tmp_path):
    """One bit flipped in every other byte of a checkpoint (a random bit each, seeded), and the
    file cut at every 7th length: each load raises CheckpointError or returns exactly the original
    (flips in unused fields, e.g. timestamps, are harmless). Nothing else escapes."""
    path, damaged = tmp_path / "c.npz", tmp_path / "d.npz"
    original = _reference_checkpoint(path)
    data, rng = path.read_bytes(), random.Random(0)
    outcomes = {"error": 0, "same": 0}
    variants = [data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1:] for i in range(0, len(data), 2)]
    variants += [data[:n] for n in range(0, len(data), 7)]
    for variant in variants:
        damaged.write_bytes(variant)
        try:
            loaded = load(damaged)
        except CheckpointError:
            outcomes["error"] += 1
            continue
        assert _same(loaded, original), "a damaged file loaded as something else"
        outcomes["same"] += 1
    assert outcomes["error"] > 0.8 * len(variants)  # most damage is caught (the rest hit unused bytes)


def test_a_pickle_payload_in_a_member_is_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    payload = npy_header((1,), "|O") + b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    write_checkpoint(tmp_path / "evil.npz", {"x.npy": payload})
    with pytest.raises(CheckpointError, match=r"Python objects, which only pickle could load \(refused"):
        load(tmp_path / "evil.npz")
    assert not marker.exists()


# -- temporary files of killed saves -----------------------------------------------------------------
KILL_MID_SAVE = textwrap.dedent("""
    import os, sys
    import numpy as np
    from minigan import io
    real_write = io._write_member
    def write_then_die(zf, key, array):
        real_write(zf, key, array)
        zf.fp.flush()
        os._exit(3)  # the process dies here, mid-archive, without any cleanup
    io._write_member = write_then_die
    io.save({"step": 2, "w": np.zeros(100000)}, sys.argv[1])
""")


def test_the_next_save_removes_the_temp_files_of_killed_saves_and_only_those(tmp_path):
    path = tmp_path / "ckpt.npz"
    save({"step": 1}, path)
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for _ in range(3):  # each save first removes what the killed one before it left
        assert subprocess.run([sys.executable, "-c", KILL_MID_SAVE, str(path)], env=env, timeout=60).returncode == 3
        killed = [p.name for p in tmp_path.iterdir() if p.name != "ckpt.npz"]
        assert len(killed) == 1 and killed[0].startswith(".ckpt.npz.")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        keep = [f".ckpt.npz.{sleeper.pid}-0123abcd.tmp",  # a live writer's file
                f".ckpt.npz.{os.getpid()}-0123abcd.tmp",  # this process's own
                ".other.npz.999999999-0123abcd.tmp",  # another target's
                ".ckpt.npz.0123abcd.tmp",  # an older name without a process id, written just now
                "ckpt.npz.backup"]  # not a temporary name at all
        old = ".ckpt.npz.89abcdef.tmp"  # an older name nobody has written to for a long time
        for name in keep + [old]:
            (tmp_path / name).write_bytes(b"partial")
        long_ago = time.time() - STALE_AFTER - 60
        os.utime(tmp_path / old, (long_ago, long_ago))
        save({"step": 3}, path)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep + ["ckpt.npz"])
    assert load(path) == {"step": 3}


def test_remove_stale_temps_ignores_a_missing_folder(tmp_path):
    assert remove_stale_temps(tmp_path / "nowhere" / "c.npz") == []


# -- IDX files ----------------------------------------------------------------------------------------
def test_an_idx_gzip_bomb_is_read_only_as_far_as_its_header_declares(tmp_path):
    """A 10-byte label file followed by 64 MiB of zeros (~64 KB gzipped): "too long", and only
    11 bytes past the header are inflated (gzip's reader is wrapped to count them)."""
    path = tmp_path / "labels.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big"))
        for _ in range(64):
            f.write(bytes(1 << 20))
    inflated = []
    real_read = gzip.GzipFile.read

    def counting_read(self, size=-1):
        data = real_read(self, size)
        inflated.append(len(data))
        return data

    gzip.GzipFile.read = counting_read
    try:
        with pytest.raises(DataError, match=r"labels\.gz: too long: the header says 10 uint8 = 10 bytes of data, "
                                            "the file has more"):
            read_idx(path)
    finally:
        gzip.GzipFile.read = real_read
    assert sum(inflated) <= 4 + 4 + 10 + 1 + 64  # header, data, one byte more (64: the peek for bad files)


@pytest.mark.parametrize("dims, compress, match", [
    ([0xFFFFFFFF] * 4, False, r"declares 4294967295 x 4294967295 x 4294967295 x 4294967295 uint8 = \d+ bytes of data, "
                              r"more than the \d+ this file may hold"),
    ([65536, 65536, 4], True, r"declares 65536 x 65536 x 4 uint8 = 17179869184 bytes of data, more than"),
    ([60000, 28, 28], True, r"declares 60000 x 28 x 28 uint8 = 47040000 bytes of data, more than the \d+ this file"),
], ids=["overflows-int64", "16GiB", "mnist-size-in-a-tiny-gzip"])
def test_an_idx_header_declaring_too_much_is_a_clear_error(tmp_path, dims, compress, match):
    raw = bytes([0, 0, 8, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims) + b"xx"
    path = tmp_path / "bad"
    path.write_bytes(gzip.compress(raw) if compress else raw)
    with pytest.raises(DataError, match=r"^" + str(path) + ": the IDX header " + match):
        read_idx(path, max_bytes=1 << 30)


def test_read_idx_max_bytes_caps_a_plain_file(tmp_path):
    raw = bytes([0, 0, 8, 1]) + (100).to_bytes(4, "big") + bytes(100)
    (tmp_path / "x").write_bytes(raw)
    with pytest.raises(DataError, match="= 100 bytes of data, more than the 99"):
        read_idx(tmp_path / "x", max_bytes=99)
    assert read_idx(tmp_path / "x", max_bytes=100).shape == (100,)


# -- downloads ----------------------------------------------------------------------------------------
class _Hostile(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        try:
            self.send_response(200)
            if self.path.endswith("/trickle.gz"):  # announces 1000 bytes, sends one every 0.5 s
                self.send_header("Content-Length", "1000")
                self.end_headers()
                for _ in range(1000):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.5)
            elif self.path.endswith("/endless.gz"):  # no length, 300 MB of zeros
                self.end_headers()
                for _ in range(300):
                    self.wfile.write(bytes(1 << 20))
            else:  # announces 300 MB
                self.send_header("Content-Length", str(300 << 20))
                self.end_headers()
                self.wfile.write(bytes(1 << 16))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should

    def log_message(self, *args):
        pass


@pytest.fixture
def hostile():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_a_trickling_server_is_given_up_on_at_the_deadline(tmp_path, hostile):
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r"trickle\.gz: gave up after \d+ s with \d+ bytes received: "
                                            "the server is too slow"):
        download("trickle", [hostile], tmp_path, "0" * 64, progress=False, timeout=2.0, deadline=1.5)
    assert time.monotonic() - start < 4.0  # the deadline plus at most one wait for a byte
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("stem, match", [
    ("endless", r"the server sent more than 5000000 bytes, the most this file may have"),
    ("announced", r"the server announces 314572800 bytes, more than the 5000000 this file may have"),
])
def test_a_stream_larger_than_the_file_can_be_is_cut_off(tmp_path, hostile, stem, match):
    with pytest.raises(DownloadError, match=match):
        download(stem, [hostile], tmp_path, "0" * 64, progress=False, max_bytes=5_000_000)
    assert list(tmp_path.iterdir()) == []  # nothing of it stays on disk


def test_mnist_downloads_are_capped_by_the_size_of_each_file():
    mnist = minigan.data.MNIST.__new__(minigan.data.MNIST)
    assert mnist._download_limit("train-labels-idx1-ubyte") < 70_000  # 60,008 bytes of content
    assert 47_040_016 < mnist._download_limit("train-images-idx3-ubyte") < 48 << 20
    assert mnist._download_limit("t10k-images-idx3-ubyte") < 8 << 20


def test_a_killed_download_leaves_a_part_file_that_the_next_download_removes(tmp_path, hostile):
    stale = tmp_path / ".endless.gz.999999999-0123abcd.part"  # no process has this id
    stale.write_bytes(b"partial")
    with pytest.raises(DownloadError):
        download("endless", [hostile], tmp_path, "0" * 64, progress=False, max_bytes=1000)
    assert list(tmp_path.iterdir()) == []


# -- DataLoader states --------------------------------------------------------------------------------
@pytest.mark.parametrize("served", [6, 100, -1, 2.5, "3", True])
def test_a_loader_state_past_its_epoch_is_refused_and_changes_nothing(served):
    loader = DataLoader(ArrayDataset(np.arange(10)), batch_size=2, shuffle=True, seed=0)
    state = loader.state_dict()
    before = [b[0].numpy().tolist() for b in loader]
    loader.load_state_dict(state)
    with pytest.raises(ValueError, match=r"batches_served must be an int from 0 to the 5 batches of an epoch "
                                         r"here \(10 items, batch_size 2\), got"):
        loader.load_state_dict({**state, "batches_served": served})
    assert [b[0].numpy().tolist() for b in loader] == before  # the good state still holds


def test_a_state_at_the_end_of_an_epoch_resumes_with_an_empty_rest_of_that_epoch():
    loader = DataLoader(ArrayDataset(np.arange(10)), batch_size=2, shuffle=True, seed=0)
    epochs = []
    for _ in range(2):
        batches = []
        for batch in loader:
            batches.append(batch[0].numpy().tolist())
            if len(epochs) == 0 and len(batches) == 5:
                state = loader.state_dict()  # taken after the last batch of epoch 1
        epochs.append(batches)
    again = DataLoader(ArrayDataset(np.arange(10)), batch_size=2, shuffle=True, seed=123)
    again.load_state_dict(state)
    assert [b[0].numpy().tolist() for b in again] == []  # epoch 1 had nothing left
    assert [b[0].numpy().tolist() for b in again] == epochs[1]
