"""Inpainting: complete a digit with a hole, with L2 alone against L2 + a discriminator (Context Encoders).

    python examples/inpainting.py                     # 5 epochs on the CPU (about one minute)
    python examples/inpainting.py --device cuda --epochs 20
    python examples/inpainting.py --mask random       # a square hole anywhere, not only in the middle

A --hole x --hole square (12 x 12: a third of the digit's middle) is cut out of each digit; a
context encoder (Pathak et al. 2016) sees the digit with its hole and fills the hole in. Two
copies of it train side by side on the same batches of the first 9,000 digits shipped with
minigan: one on the squared error in the hole alone, which gives the blurred average of the
strokes that could be there, and one on the same squared error plus --adversarial-weight x a
GAN loss, whose discriminator tells completed digits from real ones (minigan.gan.restoration).

After every epoch it measures both on the 1,000 held-out digits (--eval-digits) with the
shipped LeNet: how
often the classifier reads the true digit in the holed input (the ink in the hole erased), in
each completion and in the original, and the Frechet distance of the completions to real
digits, in the LeNet's features (the GAN's should be the lower: sharper, more digit-like). --out
(default runs/inpainting) receives completions_epoch_NNN.png (rows: the digit with its hole,
the L2 completion, the GAN completion, the original), completions.png (the latest),
metrics.jsonl with the measures, checkpoint.npz and the run's other files; Ctrl-C or SIGTERM
saves where it stops and --resume continues, as for examples/conditional_gan.py.
"""
from __future__ import annotations

import numpy as np

import minigan
from minigan import optim
from minigan.cli import UsageError, non_negative_float, positive_int, run_script
from minigan.gan import restoration as R
from minigan.gan.img2img import (accuracy, add_measure_flag, apply, frechet_to_real, held_out_digits,
                                 training_set)
from minigan.gan.scripts import Players, example_parser, parse_example_args, train_variant
from minigan.utils.images import save_grid

SHOWN = ("d_loss", "plain_content", "content", "g_game")
EPOCHS = 5
GRID_COLUMNS = 10


def build_parser():
    p = example_parser(__doc__.split("\n\n")[0], "inpainting", epochs=EPOCHS, data_dir=False)
    p.add_argument("--mask", choices=("center", "random"), default="center",
                   help="the hole: the central square, or a square anywhere (a new place for every image and step)")
    p.add_argument("--hole", type=positive_int, default=12, help="the hole's side, in pixels (of 28)")
    p.add_argument("--adversarial-weight", type=non_negative_float, default=0.01,
                   help="weight of the GAN loss beside the squared error in the hole")
    p.add_argument("--width", type=positive_int, default=16, help="the context encoder's first layer's channels")
    add_measure_flag(p)
    return p


def parse_args(argv=None):
    return parse_example_args(build_parser(), argv)


def _check(config: dict) -> None:
    if config["hole"] >= R.IMAGE_SIZE:
        raise UsageError(f"--hole {config['hole']} leaves nothing of a {R.IMAGE_SIZE} x {R.IMAGE_SIZE} digit")


def completions(G, images: np.ndarray, masks: np.ndarray, device) -> dict:
    """The holed input (hole erased to the background), both completions and the original."""
    inputs = R.with_hole(images, masks)
    return {"masked": R.fill_hole(images, masks, -1.0),
            "l2": R.fill_hole(images, masks, apply(G.plain, inputs, device=device)),
            "gan": R.fill_hole(images, masks, apply(G.adversarial, inputs, device=device)),
            "original": images}


def measure(G, images, labels, masks, device) -> dict:
    """Accuracy of each of completions(), Frechet distance of each, and the completions'
    mean squared error in the hole."""
    found = completions(G, images, masks, device)
    hole = masks.sum()
    numbers = {f"{name}_accuracy": accuracy(x, labels, device) for name, x in found.items()}
    numbers.update({f"{name}_frechet": frechet_to_real(x, device) for name, x in found.items()})
    numbers.update({f"{name}_hole_mse": float(((found[name] - images) ** 2).sum() / hole) for name in ("l2", "gan")})
    return numbers


def build(config: dict, device):
    """The players, their step and each epoch's grid and measures."""
    _check(config)
    G = R.TwinGenerators(lambda: R.ContextEncoder(config["width"])).to(device)
    D = R.ImageDiscriminator().to(device)
    g_opt = optim.Adam(G.parameters(), lr=config["lr"], betas=(0.5, 0.999))
    d_opt = optim.Adam(D.parameters(), lr=config["lr"], betas=(0.5, 0.999))
    players = Players(G, D, g_opt, d_opt)
    hole, center = config["hole"], minigan.tensor(R.center_mask(config["batch_size"], config["hole"]), device=device)
    images, labels = held_out_digits(config["eval_digits"])
    masks = R.held_out_masks(len(images), hole, config["mask"], seed=config["seed"])

    def restore(generator, inputs):  # the known pixels (0 in the hole), and the generator's pixels in the hole
        known, hole_mask = inputs[:, :1], inputs[:, 1:]
        return known + generator(inputs) * hole_mask

    def step(real, labels):
        mask = center if config["mask"] == "center" else R.random_masks(real.shape[0], hole, device)
        return R.restoration_step(players, R.with_hole(real, mask), real, restore, R.masked_mse(mask),
                                  config["adversarial_weight"])

    def end_of_epoch(path) -> dict:
        shown = completions(G, images[:GRID_COLUMNS], masks[:GRID_COLUMNS], device)
        holed = R.fill_hole(images[:GRID_COLUMNS], masks[:GRID_COLUMNS], 0.0)  # grey: the hole shows
        save_grid(np.concatenate([holed, shown["l2"], shown["gan"], shown["original"]]), path, nrow=GRID_COLUMNS)
        return measure(G, images, labels, masks, device)

    return players, step, end_of_epoch


def train(args):
    return train_variant(args, "inpainting", lambda config: build(config, args.device), SHOWN, "completions",
                         "a context encoder with and without a discriminator",
                         dataset=lambda config: training_set(config["limit"]))


def main(argv=None) -> None:
    run_script(train, parse_args(argv), build_parser())


if __name__ == "__main__":
    main()
