"""minigan.data: the IDX reader, downloads (from a local test server), MNIST / Fashion-MNIST
discovery and the embedded fallback, and the DataLoader. No test touches the internet."""
import gzip
import hashlib
import http.server
import io
import re
import socket
import struct
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import minigan
from minigan import data
from minigan.io import load, save
from minigan.data import (ArrayDataset, DataError, DataLoader, DownloadError, EmbeddedSampleWarning,
                          FashionMNIST, MNIST, read_idx)

TRAIN = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
TEST = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Keep every test away from the real ~/.cache/minigan and $MINIGAN_DATA."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MINIGAN_DATA", raising=False)


# -- synthetic IDX files ------------------------------------------------------------------------
def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """The IDX encoding of ``array``, written independently of minigan: magic, dims, data."""
    big_endian = {0x08: ">u1", 0x0C: ">i4", 0x0E: ">f8"}[type_code]
    header = struct.pack(">I", (type_code << 8) | array.ndim)
    header += b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(big_endian).tobytes()


def synthetic_split(n=12, seed=0):
    """Raw IDX bytes of ``n`` random 28 x 28 images (pixel 0 of image 0 is 0, pixel 1 is 255)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[0, 0, :2] = (0, 255)
    labels = (np.arange(n) % 10).astype(np.uint8)
    return images, labels, idx_bytes(images), idx_bytes(labels)


def sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def dataset_class(base, stems, image_raw, label_raw, **attributes):
    """``base`` with the checksums of our synthetic files (and any other class attribute)."""
    sums = {**base.sha256, stems[0]: sha256(image_raw), stems[1]: sha256(label_raw)}
    return type(f"Synthetic{base.__name__}", (base,), {"sha256": sums, **attributes})


def write_split(folder: Path, stems, image_raw, label_raw, compress=True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for stem, raw in zip(stems, (image_raw, label_raw)):
        if compress:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / stem).write_bytes(raw)
    return folder


# -- a local HTTP server ------------------------------------------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        try:
            self._respond()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (the time-out test)

    def _respond(self):
        self.server.requests.append(self.path)
        body, mode = self.server.routes.get(self.path, (None, None))
        if body is None:
            self.send_error(404)
            return
        if mode == "stall":
            time.sleep(1.0)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "drop":  # announce the whole file, send half, hang up
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Mirror:
    """A file server on 127.0.0.1 that serves ``routes`` ({path: (bytes, mode)})."""

    def __init__(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.routes, self.server.requests = {}, []
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/mnist/"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def serve(self, name, body, mode="ok", prefix="/mnist/"):
        self.server.routes[prefix + name] = (body, mode)

    @property
    def requests(self):
        return self.server.requests

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def mirror():
    server = Mirror()
    yield server
    server.stop()


@pytest.fixture
def offline_url():
    """A URL on a local port where nothing listens: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


def files_in(folder: Path) -> list:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# -- read_idx -----------------------------------------------------------------------------------
@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_reads_images_and_labels_raw_or_gzipped(tmp_path, compress):
    images, labels, image_raw, label_raw = synthetic_split()
    write_split(tmp_path, TRAIN, image_raw, label_raw, compress=compress)
    suffix = ".gz" if compress else ""
    got = read_idx(tmp_path / f"{TRAIN[0]}{suffix}", expected_magic=0x803)
    assert got.dtype == np.uint8 and got.shape == (12, 28, 28) and got.flags.writeable
    np.testing.assert_array_equal(got, images)
    np.testing.assert_array_equal(read_idx(tmp_path / f"{TRAIN[1]}{suffix}", expected_magic=0x801), labels)


@pytest.mark.parametrize("type_code, values", [(0x0C, np.array([[-5, 2**30], [7, 0]])),
                                               (0x0E, np.array([1.5, -0.25, 1e300]))])
def test_read_idx_reads_big_endian_types_into_native_order(tmp_path, type_code, values):
    (tmp_path / "x.idx").write_bytes(idx_bytes(values, type_code))
    got = read_idx(tmp_path / "x.idx")
    assert got.dtype.isnative
    np.testing.assert_array_equal(got, values)


_, _, GOOD_IMAGES, GOOD_LABELS = synthetic_split(n=3)


@pytest.mark.parametrize("raw, expected_magic, match", [
    (GOOD_LABELS, 0x803, r"IDX magic number is 0x00000801, expected 0x00000803 \(uint8, 3 dimensions\)"),
    (GOOD_IMAGES, 0x801, r"IDX magic number is 0x00000803, expected 0x00000801 \(uint8, 1 dimensions\)"),
    (b"hello, world", None, r"not an IDX file: magic number 0x68656C6C"),
    (b"\0\0\x08", None, r"not an IDX file: only 3 bytes"),
    (b"\0\0\x08\x03\0\0\0\x03", None, r"truncated IDX header: 3 dimensions need 16 bytes, the file has 8"),
    (GOOD_IMAGES[:-100], 0x803, r"truncated: the header says 3 x 28 x 28 uint8 = 2352 bytes of data, "
                                r"the file has 2252"),
    (GOOD_LABELS + b"\0", 0x801, r"too long: the header says 3 uint8 = 3 bytes of data, the file has more"),
], ids=["labels-as-images", "images-as-labels", "not-idx", "too-short", "short-header", "truncated", "too-long"])
@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_errors_name_the_file_and_the_problem(tmp_path, raw, expected_magic, match, compress):
    path = tmp_path / ("bad.gz" if compress else "bad")
    path.write_bytes(gzip.compress(raw) if compress else raw)
    with pytest.raises(DataError, match=re.escape(f"{path}: ") + match):
        read_idx(path, expected_magic)


def test_read_idx_reports_a_truncated_or_corrupt_gzip_file(tmp_path):
    packed = gzip.compress(GOOD_IMAGES)
    (tmp_path / "cut.gz").write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DataError, match=r"cut\.gz: truncated gzip file"):
        read_idx(tmp_path / "cut.gz")
    (tmp_path / "bent.gz").write_bytes(packed[:-8] + b"\xff" * 8)  # wrong CRC and length trailer
    with pytest.raises(DataError, match=r"bent\.gz: corrupt gzip file"):
        read_idx(tmp_path / "bent.gz")


# -- download -----------------------------------------------------------------------------------
def test_download_verifies_and_stores_the_file(tmp_path, mirror, capsys):
    _, _, image_raw, _ = synthetic_split()
    mirror.serve(f"{TRAIN[0]}.gz", gzip.compress(image_raw))
    path = data.download(TRAIN[0], [mirror.url], tmp_path / "cache", sha256(image_raw), progress=True)
    assert path == tmp_path / "cache" / f"{TRAIN[0]}.gz"
    assert gzip.decompress(path.read_bytes()) == image_raw
    assert files_in(tmp_path / "cache") == [path.name]
    assert "100%" in capsys.readouterr().err  # the progress bar reached the end


def test_download_tries_the_next_mirror(tmp_path, mirror):
    _, _, image_raw, _ = synthetic_split()
    mirror.serve(f"{TRAIN[0]}.gz", gzip.compress(image_raw), prefix="/second/")
    second = mirror.url.replace("/mnist/", "/second/")
    path = data.download(TRAIN[0], [mirror.url, second], tmp_path, sha256(image_raw), progress=False)
    assert path.exists()
    assert mirror.requests == [f"/mnist/{TRAIN[0]}.gz", f"/second/{TRAIN[0]}.gz"]


def test_a_checksum_mismatch_is_an_error_and_leaves_no_file(tmp_path, mirror):
    _, _, image_raw, _ = synthetic_split()
    mirror.serve(f"{TRAIN[0]}.gz", gzip.compress(image_raw))
    with pytest.raises(DownloadError, match=r"every mirror failed: .*: SHA-256 of the content is "
                                            + sha256(image_raw) + ", expected 0{64}") as caught:
        data.download(TRAIN[0], [mirror.url], tmp_path, "0" * 64, progress=False)
    assert not caught.value.offline
    assert files_in(tmp_path) == []


def test_a_connection_dropped_midway_is_an_error_and_leaves_no_file(tmp_path, mirror):
    _, _, image_raw, _ = synthetic_split()
    body = gzip.compress(image_raw)
    mirror.serve(f"{TRAIN[0]}.gz", body, mode="drop")
    with pytest.raises(DownloadError, match=rf"connection closed after {len(body) // 2} "):
        data.download(TRAIN[0], [mirror.url], tmp_path, sha256(image_raw), progress=False)
    assert files_in(tmp_path) == []


def test_a_missing_file_on_the_mirror_reports_the_http_status(tmp_path, mirror):
    with pytest.raises(DownloadError, match=r"every mirror failed: http://127\.0\.0\.1:\d+/mnist/"
                                            r"train-images-idx3-ubyte\.gz: HTTP 404"):
        data.download(TRAIN[0], [mirror.url], tmp_path, "0" * 64, progress=False)


def test_offline_gives_a_clear_message(tmp_path, offline_url):
    with pytest.raises(DownloadError, match=r"no mirror could be reached \(offline\?\): "
                                            r".*train-images-idx3-ubyte\.gz: no connection") as caught:
        data.download(TRAIN[0], [offline_url], tmp_path / "cache", "0" * 64, progress=False)
    assert caught.value.offline
    assert files_in(tmp_path / "cache") == []


def test_a_mirror_that_never_answers_times_out(tmp_path, mirror):
    mirror.serve(f"{TRAIN[0]}.gz", b"late", mode="stall")
    start = time.monotonic()
    with pytest.raises(DownloadError, match="timed out"):
        data.download(TRAIN[0], [mirror.url], tmp_path, "0" * 64, progress=False, timeout=0.2)
    assert time.monotonic() - start < 0.9
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("total, updates, expected_end", [
    (4_000_000, [1_000_000] * 4, "[" + "#" * 30 + "] 100% 4.0/4.0 MB\n"),
    (None, [3 << 20], "\rf.gz 3.1 MB\n"),
])
def test_the_text_progress_bar(total, updates, expected_end):
    stream = io.StringIO()
    bar = data.TextProgress(total, "f.gz", stream)
    for n in updates:
        bar.update(n)
    bar.close()
    assert stream.getvalue().endswith(expected_end)
    assert stream.getvalue().count("\r") == len(updates)


# -- finding and downloading datasets -----------------------------------------------------------
def test_mnist_downloads_into_root_then_finds_it_there(tmp_path, mirror, offline_url):
    images, labels, image_raw, label_raw = synthetic_split()
    for stem, raw in zip(TRAIN, (image_raw, label_raw)):
        mirror.serve(f"{stem}.gz", gzip.compress(raw))
    Synthetic = dataset_class(MNIST, TRAIN, image_raw, label_raw)
    first = Synthetic(root=tmp_path / "data", mirrors=[mirror.url], progress=False)
    np.testing.assert_array_equal(first.images, images)
    np.testing.assert_array_equal(first.labels, labels)
    assert first.source == f"downloaded to {tmp_path / 'data' / 'mnist'}"
    assert files_in(tmp_path / "data" / "mnist") == [f"{TRAIN[0]}.gz", f"{TRAIN[1]}.gz"]

    again = Synthetic(root=tmp_path / "data", mirrors=[offline_url])  # found: no network needed
    assert again.source == str(tmp_path / "data" / "mnist")
    assert len(mirror.requests) == 2


def test_downloads_go_to_minigan_data_or_the_cache(tmp_path, mirror, monkeypatch):
    _, _, image_raw, label_raw = synthetic_split()
    for stem, raw in zip(TEST, (image_raw, label_raw)):
        mirror.serve(f"{stem}.gz", gzip.compress(raw))
    Synthetic = dataset_class(MNIST, TEST, image_raw, label_raw)
    monkeypatch.setenv("MINIGAN_DATA", str(tmp_path / "shared"))
    Synthetic(train=False, mirrors=mirror.url, progress=False)
    assert len(files_in(tmp_path / "shared" / "mnist")) == 2
    monkeypatch.delenv("MINIGAN_DATA")
    Synthetic(train=False, mirrors=mirror.url, progress=False)
    assert len(files_in(tmp_path / "home" / ".cache" / "minigan" / "mnist")) == 2
    assert len(mirror.requests) == 4


@pytest.mark.parametrize("layout", ["root/mnist", "root/MNIST/raw", "root", "env/mnist", "cache/mnist"])
def test_mnist_looks_in_root_then_minigan_data_then_the_cache(tmp_path, monkeypatch, layout):
    _, _, image_raw, label_raw = synthetic_split()
    Synthetic = dataset_class(MNIST, TEST, image_raw, label_raw)
    places = {"root": tmp_path / "root", "env": tmp_path / "env", "cache": tmp_path / "home/.cache/minigan"}
    monkeypatch.setenv("MINIGAN_DATA", str(places["env"]))
    base, _, sub = layout.partition("/")
    wanted = write_split(places[base] / sub, TEST, image_raw, label_raw, compress=(base != "env"))
    later = ["root", "env", "cache"][["root", "env", "cache"].index(base) + 1:]
    for other in later:  # the same files further down the search order must not be chosen
        write_split(places[other] / "mnist", TEST, image_raw, label_raw)
    dataset = Synthetic(root=places["root"], train=False, download=False)
    assert dataset.source == str(wanted)
    assert len(dataset) == 12


def test_fashion_mnist_finds_the_debian_folder(tmp_path):
    _, _, image_raw, label_raw = synthetic_split()
    debian = write_split(tmp_path / "usr-share", TRAIN, image_raw, label_raw)
    Synthetic = dataset_class(FashionMNIST, TRAIN, image_raw, label_raw, system_dirs=(str(debian),))
    assert Synthetic(download=False).source == str(debian)
    assert FashionMNIST.system_dirs == ("/usr/share/datasets/fashion-mnist",)


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").exists(),
                    reason="the real Fashion-MNIST comes from `apt-get install dataset-fashion-mnist`")
def test_the_real_debian_fashion_mnist_passes_its_published_checksums():
    test_set = FashionMNIST(train=False, download=False)
    assert test_set.images.shape == (10000, 28, 28) and test_set.source == "/usr/share/datasets/fashion-mnist"
    assert np.bincount(test_set.labels).tolist() == [1000] * 10


def test_fashion_mnist_with_a_bad_download_raises_and_leaves_no_file(tmp_path, mirror):
    _, _, image_raw, label_raw = synthetic_split()
    for stem, raw in zip(TRAIN, (image_raw, label_raw)):
        mirror.serve(f"{stem}.gz", gzip.compress(raw + b"tampered"))
    Synthetic = dataset_class(FashionMNIST, TRAIN, image_raw, label_raw, system_dirs=())
    with pytest.raises(FileNotFoundError, match=r"(?s)not found in any of.*SHA-256 of the content"):
        Synthetic(root=tmp_path / "data", mirrors=[mirror.url], progress=False)
    assert files_in(tmp_path / "data" / "fashion-mnist") == []


def test_a_corrupt_local_file_is_an_error_naming_it(tmp_path):
    _, _, image_raw, label_raw = synthetic_split()
    Synthetic = dataset_class(MNIST, TRAIN, image_raw, label_raw)
    folder = write_split(tmp_path / "root" / "mnist", TRAIN, image_raw[:-1] + b"\x01", label_raw)
    with pytest.raises(DataError, match=re.escape(f"{folder / TRAIN[0]}.gz: the SHA-256 of its content is ")):
        Synthetic(root=tmp_path / "root")


# -- the embedded sample ------------------------------------------------------------------------
SAMPLE_CLASS_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]  # from its README


def test_the_embedded_sample_matches_its_readme():
    folder = Path(minigan.__file__).parent / "_assets" / "mnist-10k"
    assert sha256((folder / "train-images-idx3-ubyte.gz").read_bytes()) == \
        "18ea19cab95977f1cdbea2e72fc9dc1b02af3a9a0cae190f5b6ef34c7de949be"
    assert sha256((folder / "train-labels-idx1-ubyte.gz").read_bytes()) == \
        "e7e5e7d25ccba0dd1512c710f5185c2a82c05e283474611a766b2b1f1810084b"


def test_offline_mnist_falls_back_to_the_embedded_sample_with_one_line(tmp_path, offline_url):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = MNIST(root=tmp_path / "data", mirrors=[offline_url], progress=False)
    assert [w.category for w in caught] == [EmbeddedSampleWarning]
    message = str(caught[0].message)
    assert "\n" not in message
    assert "could not be downloaded (offline)" in message and "10,000-digit sample" in message
    assert caught[0].filename == __file__  # it points at the caller's line
    assert dataset.source == "the embedded 10,000-digit sample"
    assert dataset.images.shape == (10000, 28, 28) and dataset.images.dtype == np.uint8
    assert np.bincount(dataset.labels).tolist() == SAMPLE_CLASS_COUNTS
    assert files_in(tmp_path / "data" / "mnist") == []


def test_mnist_without_download_falls_back_too_and_limit_keeps_a_prefix():
    with pytest.warns(EmbeddedSampleWarning, match=r"\(download=False\)"):
        dataset = MNIST(download=False, limit=100)
    full = read_idx(Path(minigan.__file__).parent / "_assets/mnist-10k/train-labels-idx1-ubyte.gz")
    assert len(dataset) == 100
    np.testing.assert_array_equal(dataset.labels, full[:100])


def test_offline_mnist_test_split_has_no_fallback(offline_url):
    with pytest.raises(FileNotFoundError, match=r"(?s)MNIST: t10k-images-idx3-ubyte\(\.gz\).*"
                                                r"no mirror could be reached \(offline\?\).*--data-dir"):
        MNIST(train=False, mirrors=[offline_url])


@pytest.mark.parametrize("limit", [-1, 2.5, "10"])
def test_a_bad_limit_is_refused(limit):
    with pytest.raises(ValueError, match="limit must be a non-negative int"):
        MNIST(download=False, limit=limit)


# -- items --------------------------------------------------------------------------------------
def test_items_are_float_images_in_minus_one_to_one_and_int_labels(tmp_path):
    images, labels, image_raw, label_raw = synthetic_split()
    Synthetic = dataset_class(MNIST, TRAIN, image_raw, label_raw)
    dataset = Synthetic(root=write_split(tmp_path / "d", TRAIN, image_raw, label_raw))
    image, label = dataset[0]
    assert image.dtype == np.float32 and image.shape == (1, 28, 28)
    assert image[0, 0, 0] == -1.0 and image[0, 0, 1] == 1.0  # pixel 0 -> -1, 255 -> 1 exactly
    np.testing.assert_allclose(image[0], images[0] / 127.5 - 1, rtol=0, atol=1e-6)
    assert label == 0 and type(label) is int
    assert dataset[-1][1] == labels[-1]
    with pytest.raises(IndexError, match="index 12 out of range for 12 images"):
        dataset[12]


# -- DataLoader ---------------------------------------------------------------------------------
def ids_loader(n=10, **kwargs):
    """A loader over the ids 0..n-1, so that batches show which examples they hold."""
    return DataLoader(ArrayDataset(np.arange(n), np.arange(n) * 10), **kwargs)


@pytest.mark.parametrize("drop_last, sizes", [(False, [4, 4, 2]), (True, [4, 4])])
def test_batches_in_order_with_and_without_drop_last(drop_last, sizes):
    loader = ids_loader(batch_size=4, drop_last=drop_last)
    batches = list(loader)
    assert len(loader) == len(sizes) == len(batches)
    assert [len(ids) for ids, _ in batches] == sizes
    ids = np.concatenate([b.numpy() for b, _ in batches])
    np.testing.assert_array_equal(ids, np.arange(sum(sizes)))
    np.testing.assert_array_equal(np.concatenate([t.numpy() for _, t in batches]), ids * 10)


def test_mnist_batches_have_gan_shapes_and_dtypes():
    with pytest.warns(EmbeddedSampleWarning):
        dataset = MNIST(download=False, limit=100)
    loader = DataLoader(dataset, batch_size=32)
    images, labels = next(iter(loader))
    assert images.shape == (32, 1, 28, 28) and images.dtype == np.float32
    assert labels.shape == (32,) and labels.dtype == np.int64
    assert -1.0 <= images.numpy().min() and images.numpy().max() <= 1.0
    assert len(loader) == 4 and len(DataLoader(dataset, batch_size=32, drop_last=True)) == 3


def epoch_orders(loader, epochs=2):
    return [np.concatenate([ids.numpy() for ids, _ in loader]) for _ in range(epochs)]


def test_shuffling_is_a_fresh_permutation_per_epoch_fixed_by_the_seed():
    first, second = epoch_orders(ids_loader(n=50, batch_size=8, shuffle=True, seed=3))
    for order in (first, second):
        np.testing.assert_array_equal(np.sort(order), np.arange(50))
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, np.arange(50))
    same_seed = epoch_orders(ids_loader(n=50, batch_size=8, shuffle=True, seed=3))
    np.testing.assert_array_equal(np.stack(same_seed), np.stack([first, second]))
    other_seed = epoch_orders(ids_loader(n=50, batch_size=8, shuffle=True, seed=4))
    assert not np.array_equal(other_seed[0], first)


def test_sim_device_yields_sim_tensors():
    minigan.sim.reset_transfers()
    ids, values = next(iter(ids_loader(batch_size=4, device="sim")))
    assert ids.device == "sim" and values.device == "sim"
    assert isinstance(ids, minigan.Tensor) and not ids.requires_grad
    assert minigan.sim.transfers["to_device"] == 2  # one host-to-device copy per array
    np.testing.assert_array_equal(ids.numpy(), [0, 1, 2, 3])


def test_state_dict_resumes_mid_epoch_through_a_checkpoint(tmp_path):
    loader = ids_loader(n=20, batch_size=3, shuffle=True, seed=11)
    epoch = iter(loader)
    seen = [next(epoch)[0].numpy() for _ in range(2)]
    save({"loader": loader.state_dict()}, tmp_path / "c.npz")
    rest = [ids.numpy() for ids, _ in epoch]
    following = epoch_orders(loader, epochs=1)[0]

    resumed = ids_loader(n=20, batch_size=3, shuffle=True, seed=999)  # the seed is overridden
    resumed.load_state_dict(load(tmp_path / "c.npz")["loader"])
    resumed_rest = [ids.numpy() for ids, _ in resumed]
    assert len(resumed_rest) == len(rest) == len(loader) - 2
    for a, b in zip(resumed_rest, rest):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(epoch_orders(resumed, epochs=1)[0], following)
    assert len(np.unique(np.concatenate(seen + rest))) == 20


def test_state_dict_between_epochs_resumes_with_the_next_epoch():
    loader = ids_loader(n=12, batch_size=5, shuffle=True, seed=1)
    epoch_orders(loader, epochs=1)
    state = loader.state_dict()
    expected = epoch_orders(loader, epochs=1)[0]
    resumed = ids_loader(n=12, batch_size=5, shuffle=True)
    resumed.load_state_dict(state)
    np.testing.assert_array_equal(epoch_orders(resumed, epochs=1)[0], expected)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"dataset": [1, 2, 3], "batch_size": 2}, TypeError, r"DataLoader: the dataset \(list\) needs __len__ and get_batch"),
    ({"batch_size": 0}, ValueError, "batch_size must be a positive int, got 0"),
    ({"batch_size": 2.0}, ValueError, "batch_size must be a positive int, got 2.0"),
    ({"batch_size": 2, "device": "tpu"}, ValueError, "unknown device 'tpu'"),
])
def test_bad_loader_arguments_are_refused(kwargs, error, match):
    kwargs = {"dataset": ArrayDataset(np.arange(4)), **kwargs}
    with pytest.raises(error, match=match):
        DataLoader(**kwargs)


def test_array_dataset_checks_lengths():
    with pytest.raises(ValueError, match=r"the arrays differ in length: \[3, 2\]"):
        ArrayDataset(np.zeros(3), np.zeros(2))
