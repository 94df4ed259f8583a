"""A conditional GAN whose discriminator also names the digit (an auxiliary classifier,
Odena et al., 2017), on MNIST with MLPs: the generator takes an ``nn.Embedding`` of the label
beside the noise; the discriminator has a real/fake head (BCELoss) and a class head
(CrossEntropyLoss), reported as accuracy and as the probability (``nn.Softmax``) it gives the
true class.

Written for PyTorch; tests/test_torch_style.py runs it on minigan with only its imports changed.
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
    parser.add_argument("--n_epochs", type=int, default=100)
    parser.add_argument("--max_steps", type=int, default=0, help="stop after this many batches (0: no limit)")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.0002)
    parser.add_argument("--b1", type=float, default=0.5)
    parser.add_argument("--b2", type=float, default=0.999)
    parser.add_argument("--latent_dim", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--n_classes", type=int, default=10)
    parser.add_argument("--img_size", type=int, default=28)
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
        self.label_emb = nn.Embedding(opt.n_classes, opt.n_classes)
        self.model = nn.Sequential(
            nn.Linear(opt.latent_dim + opt.n_classes, opt.hidden),
            nn.BatchNorm1d(opt.hidden, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(opt.hidden, int(np.prod(self.img_shape))),
            nn.Tanh(),
        )

    def forward(self, noise, labels):
        gen_input = torch.cat((self.label_emb(labels), noise), -1)
        img = self.model(gen_input)
        return img.view(img.size(0), *self.img_shape)


class Discriminator(nn.Module):
    def __init__(self, opt):
        super(Discriminator, self).__init__()
        self.body = nn.Sequential(
            nn.Linear(opt.img_size * opt.img_size, opt.hidden),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(opt.hidden, opt.hidden),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.adv_layer = nn.Sequential(nn.Linear(opt.hidden, 1), nn.Sigmoid())
        self.aux_layer = nn.Linear(opt.hidden, opt.n_classes)

    def forward(self, img):
        out = self.body(img.view(img.size(0), -1))
        validity = self.adv_layer(out)
        label = self.aux_layer(out)
        return validity, label


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
    FloatTensor = torch.cuda.FloatTensor if cuda else torch.FloatTensor
    if opt.double:
        FloatTensor = torch.cuda.DoubleTensor if cuda else torch.DoubleTensor
    LongTensor = torch.cuda.LongTensor if cuda else torch.LongTensor

    adversarial_loss = torch.nn.BCELoss()
    auxiliary_loss = torch.nn.CrossEntropyLoss()
    softmax = nn.Softmax(dim=1)
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=opt.lr, betas=(opt.b1, opt.b2))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=opt.lr, betas=(opt.b1, opt.b2))
    os.makedirs(opt.out, exist_ok=True)

    history = []
    for epoch in range(opt.n_epochs):
        for i, (imgs, labels) in enumerate(dataloader):
            batch_size = imgs.shape[0]
            valid = Variable(FloatTensor(batch_size, 1).fill_(1.0), requires_grad=False)
            fake = Variable(FloatTensor(batch_size, 1).fill_(0.0), requires_grad=False)
            real_imgs = Variable(imgs.type(FloatTensor))
            labels = Variable(labels.type(LongTensor))

            # -----------------
            #  Train Generator
            # -----------------
            optimizer_G.zero_grad()
            z = Variable(FloatTensor(np.random.normal(0, 1, (batch_size, opt.latent_dim))))
            gen_labels = Variable(LongTensor(np.random.randint(0, opt.n_classes, batch_size)))
            gen_imgs = generator(z, gen_labels)
            validity, pred_label = discriminator(gen_imgs)
            g_loss = 0.5 * (adversarial_loss(validity, valid) + auxiliary_loss(pred_label, gen_labels))
            g_loss.backward()
            optimizer_G.step()

            # ---------------------
            #  Train Discriminator
            # ---------------------
            optimizer_D.zero_grad()
            real_pred, real_aux = discriminator(real_imgs)
            d_real_loss = (adversarial_loss(real_pred, valid) + auxiliary_loss(real_aux, labels)) / 2
            fake_pred, fake_aux = discriminator(gen_imgs.detach())
            d_fake_loss = (adversarial_loss(fake_pred, fake) + auxiliary_loss(fake_aux, gen_labels)) / 2
            d_loss = (d_real_loss + d_fake_loss) / 2
            d_loss.backward()
            optimizer_D.step()

            # Discriminator accuracy, and the probability it gives the true class of real digits
            pred = np.concatenate([real_aux.data.cpu().numpy(), fake_aux.data.cpu().numpy()], axis=0)
            gt = np.concatenate([labels.data.cpu().numpy(), gen_labels.data.cpu().numpy()], axis=0)
            d_acc = np.mean(np.argmax(pred, axis=1) == gt)
            onehot = torch.zeros(batch_size, opt.n_classes).type(FloatTensor).scatter_(1, labels.view(-1, 1), 1)
            p_true = (softmax(real_aux.detach()) * onehot).sum(1).mean()
            _, predicted = torch.max(real_aux.data, 1)

            print("[Epoch %d/%d] [Batch %d/%d] [D loss: %f, acc: %d%%, p(true): %.3f] [G loss: %f]"
                  % (epoch, opt.n_epochs, i, len(dataloader), d_loss.item(), 100 * d_acc, p_true.item(), g_loss.item()))
            history.append({"d_loss": d_loss.item(), "g_loss": g_loss.item(), "d_acc": float(d_acc),
                            "p_true": p_true.item(), "real_correct": (predicted == labels).sum().item()})
            batches_done = epoch * len(dataloader) + i
            if batches_done % opt.sample_interval == 0:
                z = Variable(FloatTensor(np.random.normal(0, 1, (opt.n_classes ** 2, opt.latent_dim))))
                row_labels = Variable(LongTensor(np.array([num for _ in range(opt.n_classes)
                                                           for num in range(opt.n_classes)])))
                save_image(generator(z, row_labels).data, os.path.join(opt.out, "%d.png" % batches_done),
                           nrow=opt.n_classes, normalize=True)
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
