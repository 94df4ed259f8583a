"""torchvision's data side, as minigan.data.datasets / minigan.data.transforms / minigan.utils:
MNIST in torchvision's folder layout (files read as they are, structure-checked; downloads
checked; the shipped sample offline), the transforms (Resize against PIL, which torchvision
uses), DataLoader with PyTorch's arguments and collation, and make_grid / save_image."""
import gzip
import io
import warnings

import numpy as np
import pytest

import minigan
from minigan.data import DataError, EmbeddedSampleWarning, datasets, transforms
from minigan.utils import make_grid, save_image
from minigan.utils.data import DataLoader, Dataset, TensorDataset, default_collate

from helpers import assert_sums_close
from test_data import Mirror, sha256, synthetic_split, write_split

TRAIN = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
TEST = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
GAN_TRANSFORM = [transforms.Resize(32), transforms.ToTensor(), transforms.Normalize([0.5], [0.5])]


@pytest.fixture(autouse=True)
def offline_mnist(monkeypatch, tmp_path):
    """No test here reaches the internet: MNIST's mirrors are a port where nothing listens."""
    monkeypatch.setattr(minigan.data.MNIST, "mirrors", ("http://127.0.0.1:9/",))
    monkeypatch.setattr(minigan.data.FashionMNIST, "mirrors", ("http://127.0.0.1:9/",))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


# -- datasets.MNIST ---------------------------------------------------------------------------------
@pytest.mark.parametrize("compress", [True, False])
def test_files_in_torchvisions_layout_are_read_as_they_are(tmp_path, compress):
    images, labels, image_raw, label_raw = synthetic_split(n=12)
    write_split(tmp_path / "MNIST" / "raw", TRAIN, image_raw, label_raw, compress=compress)
    ds = datasets.MNIST(str(tmp_path), train=True, download=False)  # no checksum: these are not MNIST's
    assert len(ds) == 12 and ds.data.dtype == np.uint8 and ds.targets.dtype == np.int64
    np.testing.assert_array_equal(ds.data.numpy(), images)
    image, target = ds[3]
    assert isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.shape == (28, 28)
    assert target == 3 and isinstance(target, int)
    assert ds.class_to_idx["3 - three"] == 3 and ds.raw_folder.endswith("MNIST/raw")


def test_a_malformed_file_there_is_refused_with_its_name(tmp_path):
    _, _, image_raw, label_raw = synthetic_split(n=4)
    folder = write_split(tmp_path / "MNIST" / "raw", TRAIN, label_raw, label_raw)  # labels as images
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: IDX magic number is 0x00000801"):
        datasets.MNIST(tmp_path, download=False)
    (folder / f"{TRAIN[0]}.gz").write_bytes(gzip.compress(image_raw[:-5]))  # truncated
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz"):
        datasets.MNIST(tmp_path, download=False)


def test_offline_the_training_set_is_the_shipped_sample_with_a_note(tmp_path):
    with pytest.warns(EmbeddedSampleWarning, match=r"not in .*MNIST/raw and could not be downloaded \(offline\)"):
        ds = datasets.MNIST(tmp_path, train=True, download=True)
    assert len(ds) == 10_000 and ds.data.shape == (10_000, 28, 28)
    with pytest.raises(RuntimeError, match="Dataset not found. You can use download=True to download it"):
        datasets.MNIST(tmp_path, train=False, download=True)
    with pytest.raises(RuntimeError, match="Dataset not found"):
        datasets.FashionMNIST(tmp_path, train=True, download=False)  # no shipped FashionMNIST


def test_download_goes_into_torchvisions_layout_and_is_checksummed(tmp_path, monkeypatch):
    _, labels, image_raw, label_raw = synthetic_split(n=6, seed=2)
    server = Mirror()
    try:
        for stem, raw in zip(TEST, (image_raw, label_raw)):
            server.serve(f"{stem}.gz", gzip.compress(raw))
        monkeypatch.setattr(minigan.data.MNIST, "mirrors", (server.url,))
        monkeypatch.setattr(minigan.data.MNIST, "sha256", {**minigan.data.MNIST.sha256, TEST[0]: sha256(image_raw),
                                                           TEST[1]: sha256(label_raw)})
        ds = datasets.MNIST(tmp_path, train=False, download=True)
        assert sorted(p.name for p in (tmp_path / "MNIST" / "raw").iterdir()) == [f"{s}.gz" for s in TEST]
        np.testing.assert_array_equal(ds.targets.numpy(), labels)
        monkeypatch.setattr(minigan.data.MNIST, "sha256", {**minigan.data.MNIST.sha256, TEST[0]: "0" * 64})
        with pytest.raises(RuntimeError, match="Dataset not found"):  # a download that fails its checksum
            datasets.MNIST(tmp_path / "other", train=False, download=True)
        assert not (tmp_path / "other" / "MNIST" / "raw" / f"{TEST[0]}.gz").exists()
    finally:
        server.stop()


def test_transforms_and_batches_give_what_the_item_path_gives(tmp_path):
    _, _, image_raw, label_raw = synthetic_split(n=10)
    write_split(tmp_path / "MNIST" / "raw", TRAIN, image_raw, label_raw)
    ds = datasets.MNIST(tmp_path, transform=transforms.Compose(GAN_TRANSFORM), target_transform=lambda t: t + 100)
    image, target = ds[4]
    assert image.shape == (1, 32, 32) and image.dtype == np.float32 and target == 104
    assert -1 <= image.numpy().min() and image.numpy().max() <= 1
    batch, targets = ds.get_batch(np.array([4, 0, 7]))  # the whole batch at once
    np.testing.assert_array_equal(batch[0], image.numpy())
    np.testing.assert_array_equal(targets, [104, 100, 107])
    per_item = transforms.Compose([transforms.Lambda(lambda x: x), *GAN_TRANSFORM])  # a Lambda: image by image
    ds.transform = per_item
    np.testing.assert_array_equal(ds.get_batch(np.array([4, 0, 7]))[0], batch)


def test_the_gan_pipeline_through_a_dataloader(tmp_path):
    with pytest.warns(EmbeddedSampleWarning):
        ds = datasets.MNIST(str(tmp_path), train=True, download=True, transform=transforms.Compose(GAN_TRANSFORM))
    loader = DataLoader(ds, batch_size=64, shuffle=True, num_workers=4, drop_last=True)
    images, labels = next(iter(loader))
    assert images.shape == (64, 1, 32, 32) and images.dtype == np.float32
    assert labels.shape == (64,) and labels.dtype == np.int64
    assert len(loader) == 10_000 // 64


# -- transforms ------------------------------------------------------------------------------------
def _pil():
    return pytest.importorskip("PIL.Image", reason="Pillow (torchvision's resampler) is the oracle here")


@pytest.mark.parametrize("shape", [(28, 28), (5, 7), (30, 17), (1, 4)])
@pytest.mark.parametrize("size", [(32, 32), (64, 64), (28, 40), (14, 14), (3, 9), 32])
def test_resize_of_uint8_images_is_pils_bilinear(shape, size):
    image_module = _pil()
    image = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    mine = transforms.Resize(size)(image)
    h, w = shape
    out_h, out_w = (size, size) if not isinstance(size, int) else (size, size * w // h) if w > h else (size * h // w,
                                                                                                     size)
    out_h, out_w = size if isinstance(size, tuple) else (out_h, out_w)
    theirs = np.asarray(image_module.fromarray(image).resize((out_w, out_h), image_module.BILINEAR))
    assert mine.shape == theirs.shape and mine.dtype == np.uint8
    if out_h >= h and out_w >= w or out_h == h or out_w == w:
        np.testing.assert_array_equal(mine, theirs)  # PIL's pixels, its 22-bit fixed point included
    else:  # shrinking both: Pillow's releases differ in which pass runs first (each rounds to uint8)
        assert np.abs(mine.astype(int) - theirs.astype(int)).max() <= 1


def test_resize_of_tensors_is_the_same_filter_in_floating_point():
    image_module = _pil()
    image = np.random.default_rng(0).uniform(0, 1, (20, 13)).astype(np.float32)
    for size in ((32, 32), (9, 30), (7, 5)):
        mine = transforms.Resize(size)(minigan.tensor(image[None])).numpy()[0]
        theirs = np.asarray(image_module.fromarray(image, mode="F").resize(size[::-1], image_module.BILINEAR))
        # two passes of at most 2 * 20 / 7 + 2 taps each; PIL sums in double, minigan in float32
        assert_sums_close(mine, theirs, np.ones_like(mine), 16, np.float32, f"Resize{size}")


def test_resize_batch_equals_image_by_image():
    images = np.random.default_rng(1).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    resize = transforms.Resize(32)
    np.testing.assert_array_equal(resize.batch(images), np.stack([resize(i) for i in images]))
    tensors = minigan.tensor(images[:, None].astype(np.float32))
    np.testing.assert_allclose(resize.batch(tensors).numpy()[1], resize(tensors[1]).numpy(), rtol=1e-6)


def test_to_tensor_and_normalize_follow_torchvision():
    image = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    t = transforms.ToTensor()(image)
    assert t.shape == (1, 3, 4) and t.dtype == np.float32
    np.testing.assert_allclose(t.numpy()[0], image / np.float32(255))
    rgb = transforms.ToTensor()(np.zeros((3, 4, 3), dtype=np.uint8))
    assert rgb.shape == (3, 3, 4)
    assert transforms.ToTensor()(np.zeros((2, 2), dtype=np.float64)).dtype == np.float64  # not divided
    normalized = transforms.Normalize((0.5,), (0.5,))(t)
    np.testing.assert_allclose(normalized.numpy(), (t.numpy() - 0.5) / 0.5)
    with pytest.raises(RuntimeError, match=r"output with shape \[1, 3, 4\] doesn't match the broadcast shape "
                                           r"\[3, 3, 4\]"):
        transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))(t)  # an RGB normalisation on MNIST
    with pytest.raises(TypeError, match="pic should be PIL Image or ndarray"):
        transforms.ToTensor()(t)
    with pytest.raises(TypeError, match="img should be Tensor Image"):
        transforms.Normalize([0.5], [0.5])(image)
    with pytest.raises(ValueError, match="std evaluated to zero"):
        transforms.Normalize([0.5], [0.0])(t)
    in_place = t.clone()
    assert transforms.Normalize([0.5], [0.5], inplace=True)(in_place) is in_place and in_place._version == 2


def test_center_crop_crops_and_pads_as_torchvision():
    image = np.arange(5 * 6, dtype=np.uint8).reshape(5, 6)
    np.testing.assert_array_equal(transforms.CenterCrop(2)(image), image[2:4, 2:4])  # round(1.5) = 2, round(2) = 2
    np.testing.assert_array_equal(transforms.CenterCrop((3, 4))(image), image[1:4, 1:5])
    padded = transforms.CenterCrop(8)(image)
    assert padded.shape == (8, 8) and padded[0].sum() == 0 and padded[1, 1:7].tolist() == image[0].tolist()
    t = minigan.tensor(image[None].astype(np.float32))
    np.testing.assert_array_equal(transforms.CenterCrop((3, 4))(t).numpy()[0], image[1:4, 1:5])
    np.testing.assert_array_equal(transforms.CenterCrop(8)(t).numpy()[0], padded)


def test_resize_refuses_what_it_does_not_do():
    with pytest.raises(NotImplementedError, match="interpolation 'nearest'"):
        transforms.Resize(32, interpolation="nearest")
    with pytest.raises(TypeError, match="Size should be a positive int"):
        transforms.Resize(0)
    with pytest.raises(TypeError, match="expected a uint8 image array"):
        transforms.Resize(4)(np.zeros((2, 2), np.float64))


# -- DataLoader --------------------------------------------------------------------------------------
class Squares(Dataset):
    def __len__(self):
        return 7

    def __getitem__(self, i):
        return {"x": np.full(2, i, np.float32), "y": i * i, "w": i / 2}


def test_any_map_style_dataset_is_collated_as_pytorch():
    loader = DataLoader(Squares(), batch_size=3)
    batches = list(loader)
    assert len(loader) == 3 and [b["x"].shape for b in batches] == [(3, 2), (3, 2), (1, 2)]
    assert batches[0]["y"].dtype == np.int64 and batches[0]["w"].dtype == np.float64  # PyTorch's collation
    np.testing.assert_array_equal(batches[1]["y"].numpy(), [9, 16, 25])
    assert [t.numpy().tolist() for t in DataLoader([1, 2, 3])] == [[1], [2], [3]]  # batch_size=1 by default
    collated = default_collate([(minigan.ones(2), 1), (minigan.zeros(2), 0)])
    assert collated[0].shape == (2, 2) and collated[1].numpy().tolist() == [1, 0]


def test_tensor_dataset_and_shuffling_fixed_by_manual_seed():
    x, y = minigan.arange(20).float().view(10, 2), minigan.arange(10)
    ds = TensorDataset(x, y)
    assert len(ds) == 10 and ds[3][1].item() == 3
    orders = []
    for _ in range(2):
        minigan.manual_seed(5)
        orders.append(np.concatenate([b.numpy() for _, b in DataLoader(ds, batch_size=4, shuffle=True)]))
    np.testing.assert_array_equal(orders[0], orders[1])
    assert sorted(orders[0].tolist()) == list(range(10)) and orders[0].tolist() != list(range(10))
    with pytest.raises(ValueError, match="Size mismatch between tensors"):
        TensorDataset(x, minigan.arange(3))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"sampler": [0, 1]}, NotImplementedError, "sampler= is not supported"),
    ({"num_workers": -1}, ValueError, "num_workers option should be non-negative"),
    ({"batch_size": 0}, ValueError, "batch_size must be a positive int"),
])
def test_loader_arguments_minigan_does_not_take_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        DataLoader(Squares(), **kwargs)


# -- make_grid and save_image ------------------------------------------------------------------------
def test_make_grid_layout_padding_and_channels():
    images = minigan.tensor(np.arange(1, 4, dtype=np.float32).reshape(3, 1, 1, 1) * np.ones((1, 1, 2, 2), np.float32))
    grid = make_grid(images, nrow=2, padding=1, pad_value=9).numpy()
    assert grid.shape == (3, 2 * 3 + 1, 2 * 3 + 1)  # one channel repeated into three, torchvision's layout
    expected = np.full((7, 7), 9.0)
    expected[1:3, 1:3], expected[1:3, 4:6], expected[4:6, 1:3] = 1, 2, 3
    np.testing.assert_array_equal(grid[0], expected)
    np.testing.assert_array_equal(grid[2], expected)
    assert make_grid(images[:1]).shape == (3, 2, 2)  # a batch of one: that image, no padding
    assert make_grid([images[0], images[1]], padding=0).shape == (3, 2, 4)


def test_make_grid_normalize_with_a_range_or_each_images_own():
    values = np.array([[-1.0, 0.0, 1.0, 2.0], [3.0, 4.0, 5.0, 7.0]], dtype=np.float32)
    images = minigan.tensor(values.reshape(2, 1, 2, 2))
    ranged = make_grid(images, padding=0, normalize=True, value_range=(-1, 1)).numpy()[0]
    side_by_side = np.concatenate([images.numpy()[0, 0], images.numpy()[1, 0]], axis=1)
    np.testing.assert_allclose(ranged, np.clip((side_by_side + 1) / 2, 0, 1))  # clamped to the range first
    each = make_grid(images, padding=0, normalize=True, scale_each=True).numpy()[0]
    np.testing.assert_allclose(each[:, :2], [[0, 1 / 3], [2 / 3, 1]], rtol=1e-6)
    np.testing.assert_allclose(each[:, 2:], [[0, 0.25], [0.5, 1]], rtol=1e-6)


def test_save_image_writes_the_bytes_torchvision_writes(tmp_path):
    image_module = _pil()
    values = np.random.default_rng(0).uniform(-1.2, 1.2, (5, 1, 6, 6)).astype(np.float32)
    path = tmp_path / "grid.png"
    save_image(minigan.tensor(values), path, nrow=3, normalize=True, value_range=(-1, 1))
    written = np.asarray(image_module.open(path))
    grid = make_grid(minigan.tensor(values), nrow=3, normalize=True, value_range=(-1, 1)).numpy()
    expected = np.clip(grid * np.float32(255) + np.float32(0.5), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    assert written.shape == (2 * 8 + 2, 3 * 8 + 2, 3)
    np.testing.assert_array_equal(written, expected)
    buffer = io.BytesIO()
    save_image(minigan.tensor(values[0]), buffer)  # a file object
    assert np.asarray(image_module.open(io.BytesIO(buffer.getvalue()))).shape == (6, 6, 3)
    with pytest.raises(ValueError, match="PNG files only"):
        save_image(minigan.tensor(values), tmp_path / "grid.jpg")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save_image(minigan.tensor(values), str(tmp_path / "again.png"))
