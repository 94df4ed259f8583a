"""Wasserstein GAN (Arjovsky et al., 2017) with weight clipping, on 32 x 32 MNIST: RMSprop,
``n_critic`` critic steps per generator step, ``p.data.clamp_(-c, c)``. The generator upsamples
with ``nn.Upsample`` and convolutions, the critic has ``nn.Dropout2d``.

Written for PyTorch; tests/test_torch_style.py runs it on minigan with only its imports changed.
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
from torch.autograd import Variable
from torch.utils.data import DataLoader
from torchvision import datasets
import torchvision.transforms as transforms
from torchvision.utils import save_image


def parse_args(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--n_epochs", type=int, default=200)
    parser.add_argument("--max_steps", type=int, default=0, help="stop after this many batches (0: no limit)")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.00005, help="learning rate")
    parser.add_argument("--latent_dim", type=int, default=100)
    parser.add_argument("--img_size", type=int, default=32)
    parser.add_argument("--channels_g", type=int, default=128, help="channels of the generator's first block")
    parser.add_argument("--channels_d", type=int, default=16, help="channels of the critic's first block")
    parser.add_argument("--dropout", type=float, default=0.25, help="Dropout2d in the critic")
    parser.add_argument("--n_critic", type=int, default=5, help="critic steps per generator step")
    parser.add_argument("--clip_value", type=float, default=0.01, help="lower and upper clip value for weights")
    parser.add_argument("--sample_interval", type=int, default=400)
    parser.add_argument("--data", default="data")
    parser.add_argument("--out", default="images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--double", action="store_true", help="train in float64 (to compare frameworks)")
    return parser.parse_args(argv)


class Generator(nn.Module):
    def __init__(self, opt):
        super(Generator, self).__init__()
        self.init_size = opt.img_size // 4
        c = opt.channels_g
        self.l1 = nn.Sequential(nn.Linear(opt.latent_dim, c * self.init_size ** 2))
        self.conv_blocks = nn.Sequential(
            nn.BatchNorm2d(c),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(c, c, 3, stride=1, padding=1),
            nn.BatchNorm2d(c, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(c, c // 2, 3, stride=1, padding=1),
            nn.BatchNorm2d(c // 2, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(c // 2, 1, 3, stride=1, padding=1),
            nn.Tanh(),
        )
        self.channels = c

    def forward(self, z):
        out = self.l1(z)
        out = out.view(out.shape[0], self.channels, self.init_size, self.init_size)
        img = self.conv_blocks(out)
        return img


class Discriminator(nn.Module):
    def __init__(self, opt):
        super(Discriminator, self).__init__()

        def discriminator_block(in_filters, out_filters, bn=True):
            block = [nn.Conv2d(in_filters, out_filters, 3, 2, 1), nn.LeakyReLU(0.2, inplace=True),
                     nn.Dropout2d(opt.dropout)]
            if bn:
                block.append(nn.BatchNorm2d(out_filters, 0.8))
            return block

        c = opt.channels_d
        self.model = nn.Sequential(
            *discriminator_block(1, c, bn=False),
            *discriminator_block(c, c * 2),
            *discriminator_block(c * 2, c * 4),
        )
        ds_size = opt.img_size // 2 ** 3
        self.adv_layer = nn.Linear(c * 4 * ds_size ** 2, 1)

    def forward(self, img):
        out = self.model(img)
        out = out.view(out.shape[0], -1)
        return self.adv_layer(out)


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
    return torch.utils.data.DataLoader(
        datasets.MNIST(
            opt.data,
            train=True,
            download=True,
            transform=transforms.Compose(
                [transforms.Resize(opt.img_size), transforms.ToTensor(), transforms.Normalize([0.5], [0.5])]
            ),
        ),
        batch_size=opt.batch_size,
        shuffle=True,
    )


def train(opt, generator, discriminator, dataloader):
    cuda = torch.cuda.is_available()
    Tensor = torch.cuda.FloatTensor if cuda else torch.FloatTensor
    if opt.double:
        Tensor = torch.cuda.DoubleTensor if cuda else torch.DoubleTensor
    optimizer_G = torch.optim.RMSprop(generator.parameters(), lr=opt.lr)
    optimizer_D = torch.optim.RMSprop(discriminator.parameters(), lr=opt.lr)
    os.makedirs(opt.out, exist_ok=True)

    history = []
    batches_done = 0
    loss_G = None
    for epoch in range(opt.n_epochs):
        for i, (imgs, _) in enumerate(dataloader):
            real_imgs = Variable(imgs.type(Tensor))

            # ---------------------
            #  Train Discriminator
            # ---------------------
            optimizer_D.zero_grad()
            z = Variable(Tensor(np.random.normal(0, 1, (imgs.shape[0], opt.latent_dim))))
            fake_imgs = generator(z).detach()
            loss_D = -torch.mean(discriminator(real_imgs)) + torch.mean(discriminator(fake_imgs))
            loss_D.backward()
            optimizer_D.step()

            # Clip weights of discriminator
            for p in discriminator.parameters():
                p.data.clamp_(-opt.clip_value, opt.clip_value)

            # Train the generator every n_critic iterations
            if i % opt.n_critic == 0:
                optimizer_G.zero_grad()
                gen_imgs = generator(z)
                loss_G = -torch.mean(discriminator(gen_imgs))
                loss_G.backward()
                optimizer_G.step()
                if batches_done % opt.sample_interval == 0:
                    save_image(gen_imgs.data[:25], os.path.join(opt.out, "%d.png" % batches_done), nrow=5,
                               normalize=True)
                batches_done += opt.n_critic

            print("[Epoch %d/%d] [Batch %d/%d] [D loss: %f] [G loss: %f]"
                  % (epoch, opt.n_epochs, i, len(dataloader), loss_D.item(), loss_G.item()))
            history.append({"loss_D": loss_D.item(), "loss_G": loss_G.item()})
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
