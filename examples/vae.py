"""Train a variational autoencoder on MNIST, the generative model beside the GAN.

    python examples/vae.py                     # the conv VAE, 50 epochs on the CPU (the default DCGAN's budget)
    python examples/vae.py --arch mlp          # Kingma & Welling's MLP VAE, 50 epochs (a quarter of that)
    python examples/vae.py --arch mlp --epochs 200   # the MLP VAE at the default DCGAN's budget
    python examples/vae.py --device cuda --epochs 100

minigan.gan.vae: an encoder q(z | x) = N(mu(x), diag(exp(logvar(x)))), a Bernoulli decoder p(x | z),
z ~ N(0, I) of --latent-dim dimensions; each step minimises the negative ELBO, the reconstruction
cross-entropy (nats per image) plus KL(q(z | x) || N(0, I)), with z drawn by the
reparameterisation trick. Adam, lr 1e-3, betas (0.9, 0.999). The conv VAE's default 50 epochs take
about as much CPU time as examples/mnist_gan.py's 10, as do 200 of the MLP VAE (bench/RESULTS.md).

After every epoch, --out (default runs/vae) receives samples_epoch_NNN.png and samples.png: the
top four rows are samples (the decoder's pixel means for a fixed z ~ N(0, I)), the bottom four
alternate real digits and their reconstructions; and the run's checkpoint.npz (the decoder as
"generator", the encoder as "discriminator"), snapshots, steps.jsonl and metrics.jsonl, as for
examples/conditional_gan.py (--resume, --overwrite, Ctrl-C saves). sample.py and latent.py read
the checkpoint.
"""
from __future__ import annotations

import numpy as np

import minigan
from minigan import optim
from minigan.cli import positive_int, run_script
from minigan.classifier import embedded_digits
from minigan.gan.scripts import Players, example_parser, parse_example_args, train_variant
from minigan.utils.images import save_grid
from minigan.gan.vae import ARCHS, build_vae, vae_step

def build_parser():
    p = example_parser(__doc__.split("\n\n")[0], "vae", epochs=50)
    p.set_defaults(lr=1e-3)
    p._option_string_actions["--lr"].help = "Adam's learning rate (betas 0.9, 0.999)"
    p.add_argument("--arch", choices=sorted(ARCHS), default="conv")
    p.add_argument("--latent-dim", type=positive_int, default=20)
    return p


def parse_args(argv=None):
    return parse_example_args(build_parser(), argv)


def build(config: dict, device):
    """The players (the decoder as G, the encoder as D), the step and the grid of each epoch."""
    vae = build_vae(config["arch"], config["latent_dim"]).to(device)
    decoder_opt = optim.Adam(vae.decoder.parameters(), lr=config["lr"])
    encoder_opt = optim.Adam(vae.encoder.parameters(), lr=config["lr"])
    real = embedded_digits()[0][-16:]  # held out from the classifier's training, shown beside their reconstructions
    players = Players(vae.decoder, vae.encoder, decoder_opt, encoder_opt,
                      z=minigan.randn(32, config["latent_dim"], device=device),
                      real=minigan.tensor(real, device=device))

    def step(real, labels):
        return vae_step(vae, decoder_opt, encoder_opt, real)

    def draw(path):
        vae.eval()
        with minigan.no_grad():
            samples = vae.decoder(players.fixed["z"]).numpy()
            shown = players.fixed["real"]
            mu, _ = vae.encode(shown)
            pairs = np.stack([shown.numpy(), vae.decoder(mu).numpy()], axis=1).reshape(-1, 1, 28, 28)
        vae.train()
        save_grid(np.concatenate([samples, pairs]), path, nrow=8)

    return players, step, draw


def train(args):
    return train_variant(args, "vae", lambda config: build(config, args.device), ("loss", "reconstruction", "kl"),
                         "samples", "a VAE")


def main(argv=None) -> None:
    run_script(train, parse_args(argv), build_parser())


if __name__ == "__main__":
    main()
