"""Super-resolution of digits, 14 x 14 -> 28 x 28: a content loss alone against content + a discriminator (SRGAN).

    python examples/super_resolution.py                  # 5 epochs on the CPU (about three minutes)
    python examples/super_resolution.py --device cuda --epochs 20
    python examples/super_resolution.py --upsample resize-conv

Each digit is shrunk to 14 x 14 (every 2 x 2 block averaged) and a small SRGAN-style generator
(Ledig et al. 2017: residual blocks at 14 x 14, then a x2 upsampling by pixel shuffle or by
resize-convolution) brings it back to 28 x 28. Two copies train side by side on the same
batches of the first 9,000 digits shipped with minigan: one on the squared error to the
original alone (the content loss), and one on the same content loss plus
--adversarial-weight x a GAN loss, whose discriminator tells upscaled digits from real ones
(minigan.gan.restoration). Plain bilinear upsampling is the third, untrained, contestant.

After every epoch it measures the three on the 1,000 held-out digits (--eval-digits): PSNR against the
originals, how often the shipped LeNet reads the true digit, and the Frechet distance to real
digits in the LeNet's features (the adversarial copy should have the lowest: sharper, at some
cost in PSNR). --out (default runs/super_resolution) receives upscaled_epoch_NNN.png (rows:
the 14 x 14 input, bilinear, content loss, content + adversarial, the original),
upscaled.png (the latest), metrics.jsonl with the measures, checkpoint.npz and the run's other
files; Ctrl-C or SIGTERM saves where it stops and --resume continues, as for
examples/conditional_gan.py.
"""
from __future__ import annotations

import numpy as np

from minigan import functional as F
from minigan import optim
from minigan.cli import non_negative_int, non_negative_float, positive_int, run_script
from minigan.gan import restoration as R
from minigan.gan.img2img import (accuracy, add_measure_flag, apply, frechet_to_real, held_out_digits, psnr,
                                 training_set)
from minigan.gan.scripts import Players, example_parser, parse_example_args, train_variant
from minigan.tensor import Tensor
from minigan.utils.images import save_grid

SHOWN = ("d_loss", "plain_content", "content", "g_game")
EPOCHS = 5
GRID_COLUMNS = 10


def build_parser():
    p = example_parser(__doc__.split("\n\n")[0], "super_resolution", epochs=EPOCHS, data_dir=False)
    p.add_argument("--upsample", choices=R.UPSAMPLERS, default="pixel-shuffle",
                   help="the generator's x2 step: a convolution to 4x the channels and a pixel shuffle, or nearest "
                        "upsampling and a convolution")
    p.add_argument("--adversarial-weight", type=non_negative_float, default=0.1,
                   help="weight of the GAN loss beside the squared error (the content loss); at 0.01 the "
                        "discriminator made no clear difference (bench/RESULTS.md)")
    p.add_argument("--width", type=positive_int, default=16, help="the generator's channels")
    p.add_argument("--blocks", type=non_negative_int, default=2, help="residual blocks at 14 x 14")
    add_measure_flag(p)
    return p


def parse_args(argv=None):
    return parse_example_args(build_parser(), argv)


def bilinear(low: np.ndarray) -> np.ndarray:
    """Plain bilinear upsampling x2 (F.interpolate, PyTorch's align_corners=False)."""
    return F.interpolate(Tensor(low), scale_factor=2, mode="bilinear").numpy()


def upscaled(G, low: np.ndarray, device) -> dict:
    """The three contestants' 28 x 28 images from 14 x 14 ``low``."""
    return {"bilinear": bilinear(low), "content": apply(G.plain, low, device=device),
            "adversarial": apply(G.adversarial, low, device=device)}


def measure(G, images, labels, device) -> dict:
    """PSNR, accuracy and Frechet distance of each contestant; the originals' accuracy and
    Frechet distance, the best there is."""
    numbers = {"original_accuracy": accuracy(images, labels, device),
               "original_frechet": frechet_to_real(images, device)}
    for name, x in upscaled(G, R.downsample(images), device).items():
        numbers.update({f"{name}_psnr": psnr(x, images), f"{name}_accuracy": accuracy(x, labels, device),
                        f"{name}_frechet": frechet_to_real(x, device)})
    return numbers


def build(config: dict, device):
    """The players, their step and each epoch's grid and measures."""
    G = R.TwinGenerators(lambda: R.SuperResolver(config["width"], config["blocks"], config["upsample"])).to(device)
    D = R.ImageDiscriminator().to(device)
    g_opt = optim.Adam(G.parameters(), lr=config["lr"], betas=(0.5, 0.999))
    d_opt = optim.Adam(D.parameters(), lr=config["lr"], betas=(0.5, 0.999))
    players = Players(G, D, g_opt, d_opt)
    images, labels = held_out_digits(config["eval_digits"])

    def step(real, labels):
        return R.restoration_step(players, R.downsample(real), real, lambda generator, low: generator(low),
                                  F.mse_loss, config["adversarial_weight"])

    def end_of_epoch(path) -> dict:
        shown = images[:GRID_COLUMNS]
        low = R.downsample(shown)
        rows = [np.repeat(np.repeat(low, 2, axis=2), 2, axis=3), *upscaled(G, low, device).values(), shown]
        save_grid(np.concatenate(rows), path, nrow=GRID_COLUMNS)
        return measure(G, images, labels, device)

    return players, step, end_of_epoch


def train(args):
    return train_variant(args, "super_resolution", lambda config: build(config, args.device), SHOWN, "upscaled",
                         "a super-resolution generator with and without a discriminator",
                         dataset=lambda config: training_set(config["limit"]))


def main(argv=None) -> None:
    run_script(train, parse_args(argv), build_parser())


if __name__ == "__main__":
    main()
