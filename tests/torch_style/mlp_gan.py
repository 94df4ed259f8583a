"""A vanilla GAN on MNIST (Goodfellow et al., 2014): two MLPs and binary cross-entropy.

Written for PyTorch, in the style of the tutorials people copy (Variable, FloatTensor, NumPy
noise); tests/test_torch_style.py runs it on minigan with only its imports changed.
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
from torch.autograd import Variable
from torch.utils.data import DataLoader
from torchvision import datasets, transforms
from torchvision.utils import save_image


def parse_args(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--n_epochs", type=int, default=50, help="number of epochs of training")
    parser.add_argument("--max_steps", type=int, default=0, help="stop after this many batches (0: no limit)")
    parser.add_argument("--batch_size", type=int, default=64, help="size of the batches")
    parser.add_argument("--lr", type=float, default=0.0002, help="adam: learning rate")
    parser.add_argument("--b1", type=float, default=0.5, help="adam: decay of first order momentum of gradient")
    parser.add_argument("--b2", type=float, default=0.999, help="adam: decay of second order momentum of gradient")
    parser.add_argument("--latent_dim", type=int, default=64, help="dimensionality of the latent space")
    parser.add_argument("--hidden", type=int, default=256, help="width of the hidden layers")
    parser.add_argument("--img_size", type=int, default=28, help="size of each image dimension")
    parser.add_argument("--sample_interval", type=int, default=400, help="batches between image samples")
    parser.add_argument("--data", default="data", help="where MNIST is (or goes)")
    parser.add_argument("--out", default="images", help="where the samples go")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--double", action="store_true", help="train in float64 (to compare frameworks)")
    return parser.parse_args(argv)


class Generator(nn.Module):
    def __init__(self, opt):
        super(Generator, self).__init__()
        self.img_shape = (1, opt.img_size, opt.img_size)

        def block(in_feat, out_feat, normalize=True):
            layers = [nn.Linear(in_feat, out_feat)]
            if normalize:
                layers.append(nn.BatchNorm1d(out_feat, 0.8))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.model = nn.Sequential(
            *block(opt.latent_dim, opt.hidden, normalize=False),
            *block(opt.hidden, opt.hidden * 2),
            nn.Linear(opt.hidden * 2, int(np.prod(self.img_shape))),
            nn.Tanh(),
        )

    def forward(self, z):
        img = self.model(z)
        img = img.view(img.size(0), *self.img_shape)
        return img


class Discriminator(nn.Module):
    def __init__(self, opt):
        super(Discriminator, self).__init__()
        self.model = nn.Sequential(
            nn.Linear(opt.img_size * opt.img_size, opt.hidden * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(opt.hidden * 2, opt.hidden),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(opt.hidden, 1),
            nn.Sigmoid(),
        )

    def forward(self, img):
        img_flat = img.view(img.size(0), -1)
        validity = self.model(img_flat)
        return validity


def build(opt):
    generator, discriminator = Generator(opt), Discriminator(opt)
    if torch.cuda.is_available():
        generator.cuda()
        discriminator.cuda()
    if opt.double:
        generator.double()
        discriminator.double()
    return generator, discriminator


def make_dataloader(opt):
    os.makedirs(opt.data, exist_ok=True)
    dataset = datasets.MNIST(
        opt.data,
        train=True,
        download=True,
        transform=transforms.Compose(
            [transforms.Resize(opt.img_size), transforms.ToTensor(), transforms.Normalize([0.5], [0.5])]
        ),
    )
    return DataLoader(dataset, batch_size=opt.batch_size, shuffle=True, drop_last=True)


def train(opt, generator, discriminator, dataloader):
    cuda = torch.cuda.is_available()
    if opt.double:
        Tensor = torch.cuda.DoubleTensor if cuda else torch.DoubleTensor
    else:
        Tensor = torch.cuda.FloatTensor if cuda else torch.FloatTensor

    adversarial_loss = torch.nn.BCELoss()
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=opt.lr, betas=(opt.b1, opt.b2))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=opt.lr, betas=(opt.b1, opt.b2))
    os.makedirs(opt.out, exist_ok=True)

    history = []
    for epoch in range(opt.n_epochs):
        for i, (imgs, _) in enumerate(dataloader):
            # Adversarial ground truths
            valid = Variable(Tensor(imgs.size(0), 1).fill_(1.0), requires_grad=False)
            fake = Variable(Tensor(imgs.size(0), 1).fill_(0.0), requires_grad=False)
            real_imgs = Variable(imgs.type(Tensor))

            # -----------------
            #  Train Generator
            # -----------------
            optimizer_G.zero_grad()
            z = Variable(Tensor(np.random.normal(0, 1, (imgs.shape[0], opt.latent_dim))))
            gen_imgs = generator(z)
            g_loss = adversarial_loss(discriminator(gen_imgs), valid)
            g_loss.backward()
            optimizer_G.step()

            # ---------------------
            #  Train Discriminator
            # ---------------------
            optimizer_D.zero_grad()
            real_loss = adversarial_loss(discriminator(real_imgs), valid)
            fake_loss = adversarial_loss(discriminator(gen_imgs.detach()), fake)
            d_loss = (real_loss + fake_loss) / 2
            d_loss.backward()
            optimizer_D.step()

            batches_done = epoch * len(dataloader) + i
            history.append({"d_loss": d_loss.item(), "g_loss": g_loss.item()})
            print("[Epoch %d/%d] [Batch %d/%d] [D loss: %f] [G loss: %f]"
                  % (epoch, opt.n_epochs, i, len(dataloader), d_loss.item(), g_loss.item()))
            if batches_done % opt.sample_interval == 0:
                save_image(gen_imgs.data[:25], os.path.join(opt.out, "%d.png" % batches_done), nrow=5,
                           normalize=True)
            if opt.max_steps and len(history) >= opt.max_steps:
                return history
    return history


def main(argv=None):
    opt = parse_args(argv)
    torch.manual_seed(opt.seed)
    np.random.seed(opt.seed)
    generator, discriminator = build(opt)
    return train(opt, generator, discriminator, make_dataloader(opt))


if __name__ == "__main__":
    main()
