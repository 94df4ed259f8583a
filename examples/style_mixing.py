"""Train a style-based generator on MNIST and mix the styles of two digits.

    python examples/style_mixing.py                  # 12 epochs on the CPU (12.5 minutes on 2 cores)
    python examples/style_mixing.py --device cuda --epochs 20
    python examples/style_mixing.py --epochs 16 --resume

The generator (minigan.gan.stylegan, Karras et al. 2019) maps z to w, starts from a learned 7 x 7
constant and styles each of its six layers (two at 7, 14 and 28 pixels) with AdaIN driven by w;
training mixes two z's styles at a random layer for --mixing of the samples (mixing
regularisation). D is the DCGAN discriminator, the game the non-saturating one.

After every epoch, --out (default runs/style_mixing) receives mixing_epoch_NNN.png and mixing.png:
the top row holds sources B, the left column sources A, and each cell the digit made with A's
coarse styles (the first --crossover layers: 4, the 7 and 14 pixel layers) and B's fine ones
(the 28 pixel layers); and the run's checkpoint.npz, snapshots, steps.jsonl and metrics.jsonl as
for examples/conditional_gan.py (--resume, --overwrite, Ctrl-C saves). At the end the shipped
classifier names the digits of --pairs random mixes, for every crossover: mixing.json holds the
share of mixes named as the coarse source's digit and as the fine source's (among the pairs whose
two sources it names differently).
"""
from __future__ import annotations

import json
import os

import minigan
from minigan import optim
from minigan.cli import positive_float, positive_int, run_script, unit_interval
from minigan.classifier import pretrained
from minigan.gan.models import dcgan_discriminator, dcgan_init_
from minigan.gan.scripts import Players, example_parser, parse_example_args, train_variant
from minigan.gan.stylegan import StyleGenerator, mixing_agreement, mixing_grid, style_gan_step
from minigan.utils.images import save_grid
from minigan.files import atomic_write_bytes

SOURCES = 6  # rows and columns of the mixing grid


def build_parser():
    p = example_parser(__doc__.split("\n\n")[0], "style_mixing", epochs=12)
    p.add_argument("--g-lr", type=positive_float, default=2e-3,
                   help="G's Adam learning rate (betas 0, 0.99, as StyleGAN; its layers have an equalised lr)")
    p.add_argument("--mixing", type=unit_interval, default=0.9, help="share of training samples with mixed styles")
    p.add_argument("--no-noise", action="store_true", help="no per-pixel noise inputs")
    p.add_argument("--crossover", type=positive_int, default=4,
                   help="the grid's coarse layers: the first N of the 6 come from source A")
    p.add_argument("--pairs", type=positive_int, default=2000, help="random pairs mixed for the measurement")
    return p


def parse_args(argv=None):
    return parse_example_args(build_parser(), argv)


def build(config: dict, device, crossover: int):
    """The players, their step and the grid of each epoch (A's first ``crossover`` layers)."""
    G = StyleGenerator(noise=not config["no_noise"]).to(device)
    D = dcgan_init_(dcgan_discriminator()).to(device)
    g_opt = optim.Adam(G.parameters(), lr=config["g_lr"], betas=(0.0, 0.99))
    d_opt = optim.Adam(D.parameters(), lr=config["lr"], betas=(0.5, 0.999))
    players = Players(G, D, g_opt, d_opt, rows=minigan.randn(SOURCES, G.latent_dim, device=device),
                      columns=minigan.randn(SOURCES, G.latent_dim, device=device))

    def step(real, labels):
        return style_gan_step(G, D, g_opt, d_opt, real, mixing=config["mixing"])

    def draw(path):
        cells = mixing_grid(G, players.fixed["rows"], players.fixed["columns"], crossover)
        save_grid(cells, path, nrow=SOURCES + 1)

    return players, step, draw


def measure(G, args) -> list:
    """The classifier's verdict on --pairs mixes at every crossover, into mixing.json. The
    noise inputs draw from minigan's generator, seeded with --seed for each crossover: the same
    checkpoint gives the same figures here and in bench/generator_design.py."""
    classifier = pretrained(args.device)
    results = []
    for crossover in range(1, G.num_styles):
        minigan.manual_seed(args.seed)
        results.append(mixing_agreement(G, classifier, args.pairs, crossover, seed=args.seed, device=args.device))
    for r in results:
        print(f"crossover {r['crossover']} (coarse: the first {r['crossover']} of {G.num_styles} layers): the "
              f"classifier names the coarse source's digit for {r['coarse_share']:.1%} of mixes, the fine "
              f"source's for {r['fine_share']:.1%} ({r['pairs_used']} pairs whose sources differ)")
    atomic_write_bytes(os.path.join(args.out, "mixing.json"), json.dumps(results, indent=1).encode())
    return results


def train(args):
    if args.crossover >= 6:
        from minigan.cli import UsageError
        raise UsageError(f"--crossover {args.crossover}: the generator has 6 layers; choose 1 to 5")
    players = train_variant(args, "style", lambda config: build(config, args.device, args.crossover),
                            ("d_loss", "g_loss", "d_real", "d_fake"), "mixing", "a style-based generator")
    return measure(players.G, args)


def main(argv=None) -> None:
    run_script(train, parse_args(argv), build_parser())


if __name__ == "__main__":
    main()
