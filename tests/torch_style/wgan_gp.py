"""WGAN-GP (Gulrajani et al., 2017) on MNIST with MLPs: the critic's gradient norm on
interpolates between real and fake images is pushed towards 1 by a penalty that is itself
differentiated (``autograd.grad(..., create_graph=True)``).

Written for PyTorch; tests/test_torch_style.py runs it on minigan with only its imports changed.
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
from torch import autograd
from torch.autograd import Variable
from torch.utils.data import DataLoader
from torchvision import datasets, transforms
from torchvision.utils import save_image


def parse_args(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--n_epochs", type=int, default=200)
    parser.add_argument("--max_steps", type=int, default=0, help="stop after this many batches (0: no limit)")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.0002)
    parser.add_argument("--b1", type=float, default=0.5)
    parser.add_argument("--b2", type=float, default=0.999)
    parser.add_argument("--latent_dim", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--img_size", type=int, default=28)
    parser.add_argument("--n_critic", type=int, default=5)
    parser.add_argument("--lambda_gp", type=float, default=10.0, help="weight of the gradient penalty")
    parser.add_argument("--sample_interval", type=int, default=400)
    parser.add_argument("--data", default="data")
    parser.add_argument("--out", default="images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--double", action="store_true", help="train in float64 (to compare frameworks)")
    return parser.parse_args(argv)


class Generator(nn.Module):
    def __init__(self, opt):
        super(Generator, self).__init__()
        self.img_shape = (1, opt.img_size, opt.img_size)
        self.model = nn.Sequential(
            nn.Linear(opt.latent_dim, opt.hidden),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(opt.hidden, opt.hidden * 2),
            nn.BatchNorm1d(opt.hidden * 2, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(opt.hidden * 2, int(np.prod(self.img_shape))),
            nn.Tanh(),
        )

    def forward(self, z):
        img = self.model(z)
        return img.view(img.shape[0], *self.img_shape)


class Discriminator(nn.Module):
    def __init__(self, opt):
        super(Discriminator, self).__init__()
        self.model = nn.Sequential(
            nn.Linear(opt.img_size * opt.img_size, opt.hidden * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(opt.hidden * 2, opt.hidden),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(opt.hidden, 1),
        )

    def forward(self, img):
        img_flat = img.view(img.shape[0], -1)
        return self.model(img_flat)


def compute_gradient_penalty(D, real_samples, fake_samples, Tensor):
    """The WGAN-GP penalty: (||grad D(x)|| - 1)^2 at random points between real and fake samples."""
    alpha = Tensor(np.random.random((real_samples.size(0), 1, 1, 1)))
    interpolates = (alpha * real_samples + ((1 - alpha) * fake_samples)).requires_grad_(True)
    d_interpolates = D(interpolates)
    fake = Variable(Tensor(real_samples.shape[0], 1).fill_(1.0), requires_grad=False)
    gradients = autograd.grad(
        outputs=d_interpolates,
        inputs=interpolates,
        grad_outputs=fake,
        create_graph=True,
        retain_graph=True,
        only_inputs=True,
    )[0]
    gradients = gradients.view(gradients.size(0), -1)
    gradient_penalty = ((gradients.norm(2, dim=1) - 1) ** 2).mean()
    return gradient_penalty


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
    transform = transforms.Compose([transforms.Resize(opt.img_size), transforms.ToTensor(),
                                    transforms.Normalize([0.5], [0.5])])
    return DataLoader(datasets.MNIST(opt.data, train=True, download=True, transform=transform),
                      batch_size=opt.batch_size, shuffle=True)


def train(opt, generator, discriminator, dataloader):
    cuda = torch.cuda.is_available()
    if opt.double:
        Tensor = torch.cuda.DoubleTensor if cuda else torch.DoubleTensor
    else:
        Tensor = torch.cuda.FloatTensor if cuda else torch.FloatTensor
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=opt.lr, betas=(opt.b1, opt.b2))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=opt.lr, betas=(opt.b1, opt.b2))
    os.makedirs(opt.out, exist_ok=True)

    history = []
    batches_done = 0
    g_loss = None
    for epoch in range(opt.n_epochs):
        for i, (imgs, _) in enumerate(dataloader):
            real_imgs = Variable(imgs.type(Tensor))

            # ---------------------
            #  Train Discriminator
            # ---------------------
            optimizer_D.zero_grad()
            z = Variable(Tensor(np.random.normal(0, 1, (imgs.shape[0], opt.latent_dim))))
            fake_imgs = generator(z)
            real_validity = discriminator(real_imgs)
            fake_validity = discriminator(fake_imgs)
            gradient_penalty = compute_gradient_penalty(discriminator, real_imgs.data, fake_imgs.data, Tensor)
            d_loss = -torch.mean(real_validity) + torch.mean(fake_validity) + opt.lambda_gp * gradient_penalty
            d_loss.backward()
            optimizer_D.step()

            optimizer_G.zero_grad()
            # Train the generator every n_critic steps
            if i % opt.n_critic == 0:
                fake_imgs = generator(z)
                fake_validity = discriminator(fake_imgs)
                g_loss = -torch.mean(fake_validity)
                g_loss.backward()
                optimizer_G.step()
                if batches_done % opt.sample_interval == 0:
                    save_image(fake_imgs.data[:25], os.path.join(opt.out, "%d.png" % batches_done), nrow=5,
                               normalize=True)
                batches_done += opt.n_critic

            print("[Epoch %d/%d] [Batch %d/%d] [D loss: %f] [G loss: %f] [GP: %f]"
                  % (epoch, opt.n_epochs, i, len(dataloader), d_loss.item(), g_loss.item(), gradient_penalty.item()))
            history.append({"d_loss": d_loss.item(), "g_loss": g_loss.item(), "gp": gradient_penalty.item()})
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
