"""Unpaired image-to-image translation (CycleGAN, Zhu et al. 2017) between two domains of digits.

    python examples/cyclegan.py                        # 3 epochs on the CPU (about four minutes)
    python examples/cyclegan.py --device cuda --epochs 20
    python examples/cyclegan.py --identity-weight 0.5  # with the paper's identity loss
    python examples/cyclegan.py --transform invert-rotate  # a quarter turn too: beyond the model

Domain A is MNIST; domain B is MNIST with the ink inverted (dark digits on white paper), and
with --transform invert-rotate each image turned a quarter turn counter-clockwise too (which
the model does not learn: see minigan.gan.cyclegan). A and B come from
disjoint halves of the first 9,000 digits shipped with minigan, so no digit is ever shown with
its own transformed twin: the model learns to translate from the two collections alone. Two
ResNet generators (G_AB, G_BA) and two PatchGAN discriminators play the LSGAN game, with the
cycle-consistency loss and the pool of past fakes of the paper (minigan.gan.cyclegan).

After every epoch it measures the translation on the 1,000 held-out digits (--eval-digits)
with the shipped LeNet: G_AB's output, turned back by the known inverse of the
transformation, must still be the input's digit (a_to_b_accuracy), and so must G_BA's
translation of the same digits sent through B (b_to_a_accuracy). --out (default runs/cyclegan) receives translations_epoch_NNN.png
(rows: held-out A digits, G_AB's translations, their reconstructions G_BA(G_AB(a)); B digits,
G_BA's translations, their reconstructions), translations.png (the latest), metrics.jsonl
with the accuracies, checkpoint.npz (both generators, both discriminators, optimizers, the
image pools, data order and random states) and the run's other files; Ctrl-C or SIGTERM
saves where it stops and --resume continues, as for examples/conditional_gan.py.
"""
from __future__ import annotations

from minigan import optim
from minigan.cli import non_negative_float, non_negative_int, positive_int, run_script
from minigan.gan.cyclegan import (CycleDiscriminators, CycleGenerators, CyclePlayers, cyclegan_step,
                                  TRANSFORMS, label_preservation, to_domain_b, translation_grid)
from minigan.gan.img2img import add_measure_flag, held_out_digits, training_digits
from minigan.gan.scripts import example_parser, parse_example_args, train_variant
from minigan.utils.data import ArrayDataset
from minigan.utils.images import save_grid

SHOWN = ("g_loss", "d_loss", "cycle")
GRID_COLUMNS = 10
EPOCHS = 3


def build_parser():
    p = example_parser(__doc__.split("\n\n")[0], "cyclegan", epochs=EPOCHS, data_dir=False)
    p.set_defaults(batch_size=16)
    p.add_argument("--cycle-weight", type=non_negative_float, default=10.0, help="lambda of the cycle loss")
    p.add_argument("--identity-weight", type=non_negative_float, default=0.0,
                   help="the identity loss's weight, relative to --cycle-weight (the paper: 0.5 or 0)")
    p.add_argument("--transform", choices=TRANSFORMS, default="invert",
                   help="domain B: the digits with the ink inverted, or inverted and turned a quarter turn")
    p.add_argument("--pool-size", type=non_negative_int, default=50, help="past fakes D learns from (0: none)")
    p.add_argument("--width", type=positive_int, default=8, help="the generators' first layer's channels")
    p.add_argument("--blocks", type=non_negative_int, default=3, help="residual blocks per generator")
    p.add_argument("--downsamplings", type=int, choices=(0, 1, 2), default=1,
                   help="stride-2 convolutions before the blocks (28 x 28 -> 14 x 14 for 1)")
    add_measure_flag(p)
    return p


def parse_args(argv=None):
    return parse_example_args(build_parser(), argv)


def unpaired_digits(config: dict) -> ArrayDataset:
    """(a, b) pairs that are no pairs: the first half of the training digits as A, the second
    half under the transformation as B."""
    images, _ = training_digits(config["limit"])
    half = len(images) // 2
    dataset = ArrayDataset(images[:half], to_domain_b(images[half:2 * half], config["transform"]))
    dataset.source = "the first 9,000 digits of the embedded 10,000-digit sample, in two halves"
    return dataset


def build(config: dict, device):
    """The players, their step and each epoch's grid and measures."""
    G = CycleGenerators(config["width"], config["blocks"], config["downsamplings"]).to(device)
    D = CycleDiscriminators().to(device)
    g_opt = optim.Adam(G.parameters(), lr=config["lr"], betas=(0.5, 0.999))
    d_opt = optim.Adam(D.parameters(), lr=config["lr"], betas=(0.5, 0.999))
    players = CyclePlayers(G, D, g_opt, d_opt, config["pool_size"])
    images, labels = held_out_digits(config["eval_digits"])
    shown_a, shown_b = images[:GRID_COLUMNS], to_domain_b(images[GRID_COLUMNS:2 * GRID_COLUMNS], config["transform"])

    def step(real_a, real_b):
        return cyclegan_step(players, real_a, real_b, config["cycle_weight"], config["identity_weight"])

    def end_of_epoch(path) -> dict:
        save_grid(translation_grid(G, shown_a, shown_b, device), path, nrow=GRID_COLUMNS)
        return label_preservation(G, images, labels, device, config["transform"])

    return players, step, end_of_epoch


def train(args):
    return train_variant(args, "cyclegan", lambda config: build(config, args.device), SHOWN, "translations",
                         "a CycleGAN", dataset=unpaired_digits)


def main(argv=None) -> None:
    run_script(train, parse_args(argv), build_parser())


if __name__ == "__main__":
    main()
