"""DCGAN (Radford et al., 2015) on 32 x 32 MNIST, in the style of PyTorch's own example:
transposed convolutions, batch norm, BCELoss, ``torch.full`` labels, ``weights_init`` by class
name, ``torch.device``, cudnn.benchmark and data parallelism over ``ngpu`` GPUs.

Written for PyTorch; tests/test_torch_style.py runs it on minigan with only its imports
changed. The noise is drawn with NumPy so that the two frameworks can be compared step by step.
"""
import argparse
import os

import numpy as np
import torch
import torch.backends.cudnn as cudnn
import torch.nn as nn
import torch.nn.parallel
import torch.optim as optim
import torch.utils.data
import torchvision.datasets as dset
import torchvision.transforms as transforms
import torchvision.utils as vutils


def parse_args(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataroot", "--data", dest="data", default="data", help="path to dataset")
    parser.add_argument("--workers", type=int, default=2, help="number of data loading workers")
    parser.add_argument("--batchSize", type=int, default=64, help="input batch size")
    parser.add_argument("--imageSize", type=int, default=32, help="the height / width of the input image")
    parser.add_argument("--nz", type=int, default=100, help="size of the latent z vector")
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--ndf", type=int, default=64)
    parser.add_argument("--niter", type=int, default=25, help="number of epochs to train for")
    parser.add_argument("--max_steps", type=int, default=0, help="stop after this many batches (0: no limit)")
    parser.add_argument("--lr", type=float, default=0.0002, help="learning rate")
    parser.add_argument("--beta1", type=float, default=0.5, help="beta1 for adam")
    parser.add_argument("--ngpu", type=int, default=1, help="number of GPUs to use")
    parser.add_argument("--outf", "--out", dest="out", default="images", help="folder to output images")
    parser.add_argument("--sample_interval", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--double", action="store_true", help="train in float64 (to compare frameworks)")
    return parser.parse_args(argv)


# custom weights initialization called on netG and netD
def weights_init(m):
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        torch.nn.init.normal_(m.weight, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)


class Generator(nn.Module):
    def __init__(self, ngpu, nz, ngf, nc=1):
        super(Generator, self).__init__()
        self.ngpu = ngpu
        self.main = nn.Sequential(
            # input is Z, going into a convolution
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            # state size. (ngf*4) x 4 x 4
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            # state size. (ngf*2) x 8 x 8
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            # state size. (ngf) x 16 x 16
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh(),
            # state size. (nc) x 32 x 32
        )

    def forward(self, input):
        if input.is_cuda and self.ngpu > 1:
            output = nn.parallel.data_parallel(self.main, input, range(self.ngpu))
        else:
            output = self.main(input)
        return output


class Discriminator(nn.Module):
    def __init__(self, ngpu, ndf, nc=1):
        super(Discriminator, self).__init__()
        self.ngpu = ngpu
        self.main = nn.Sequential(
            # input is (nc) x 32 x 32
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf) x 16 x 16
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf*2) x 8 x 8
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. (ndf*4) x 4 x 4
            nn.Conv2d(ndf * 4, 1, 4, 1, 0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, input):
        if input.is_cuda and self.ngpu > 1:
            output = nn.parallel.data_parallel(self.main, input, range(self.ngpu))
        else:
            output = self.main(input)
        return output.view(-1, 1).squeeze(1)


def get_device():
    return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")


def build(opt):
    device = get_device()
    netG = Generator(opt.ngpu, opt.nz, opt.ngf).to(device)
    netG.apply(weights_init)
    netD = Discriminator(opt.ngpu, opt.ndf).to(device)
    netD.apply(weights_init)
    if opt.double:
        netG.double()
        netD.double()
    return netG, netD


def make_dataloader(opt):
    dataset = dset.MNIST(
        root=opt.data,
        download=True,
        transform=transforms.Compose([
            transforms.Resize(opt.imageSize),
            transforms.CenterCrop(opt.imageSize),
            transforms.ToTensor(),
            transforms.Normalize((0.5,), (0.5,)),
        ]),
    )
    return torch.utils.data.DataLoader(dataset, batch_size=opt.batchSize, shuffle=True, num_workers=int(opt.workers))


def train(opt, netG, netD, dataloader):
    cudnn.benchmark = True
    device = get_device()
    dtype = torch.float64 if opt.double else torch.float
    criterion = nn.BCELoss()
    fixed_noise = torch.randn(16, opt.nz, 1, 1, device=device, dtype=dtype)
    real_label = 1.0
    fake_label = 0.0
    optimizerD = optim.Adam(netD.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=opt.lr, betas=(opt.beta1, 0.999))
    os.makedirs(opt.out, exist_ok=True)

    history = []
    for epoch in range(opt.niter):
        for i, data in enumerate(dataloader, 0):
            ############################
            # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
            ###########################
            # train with real
            netD.zero_grad()
            real_cpu = data[0].to(device, dtype)
            batch_size = real_cpu.size(0)
            label = torch.full((batch_size,), real_label, dtype=real_cpu.dtype, device=device)

            output = netD(real_cpu)
            errD_real = criterion(output, label)
            errD_real.backward()
            D_x = output.mean().item()

            # train with fake
            noise = torch.from_numpy(np.random.randn(batch_size, opt.nz, 1, 1)).to(device, dtype)
            fake = netG(noise)
            label.fill_(fake_label)
            output = netD(fake.detach())
            errD_fake = criterion(output, label)
            errD_fake.backward()
            D_G_z1 = output.mean().item()
            errD = errD_real + errD_fake
            optimizerD.step()

            ############################
            # (2) Update G network: maximize log(D(G(z)))
            ###########################
            netG.zero_grad()
            label.fill_(real_label)  # fake labels are real for generator cost
            output = netD(fake)
            errG = criterion(output, label)
            errG.backward()
            D_G_z2 = output.mean().item()
            optimizerG.step()

            print("[%d/%d][%d/%d] Loss_D: %.4f Loss_G: %.4f D(x): %.4f D(G(z)): %.4f / %.4f"
                  % (epoch, opt.niter, i, len(dataloader), errD.item(), errG.item(), D_x, D_G_z1, D_G_z2))
            history.append({"errD": errD.item(), "errG": errG.item(), "D_x": D_x, "D_G_z1": D_G_z1,
                            "D_G_z2": D_G_z2})
            if i % opt.sample_interval == 0:
                vutils.save_image(real_cpu, "%s/real_samples.png" % opt.out, normalize=True)
                fake = netG(fixed_noise)
                vutils.save_image(fake.detach(), "%s/fake_samples_epoch_%03d.png" % (opt.out, epoch), normalize=True)
            if opt.max_steps and len(history) >= opt.max_steps:
                return history
    return history


def main(argv=None):
    opt = parse_args(argv)
    torch.manual_seed(opt.seed)
    np.random.seed(opt.seed)
    netG, netD = build(opt)
    return train(opt, netG, netD, make_dataloader(opt))


if __name__ == "__main__":
    main()
