"""DCGAN (Radford, Metz, Chintala, "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks", ICLR 2016) for 28x28 images, trained with the non-saturating
GAN loss (Goodfellow et al., NeurIPS 2014).

The idea: a generator G maps noise z ~ N(0, I) to an image; a discriminator D scores images as
real or fake. D minimises the cross-entropy of telling them apart; G maximises log D(G(z))
(the non-saturating form: its gradient is strong exactly when D confidently rejects a sample,
where the minimax form log(1 - D(G(z))) has none). DCGAN's stabilisers are built in: strided
(transposed) convolutions instead of pooling, batch norm in both nets (not on D's input layer
nor G's output layer), ReLU in G with a tanh output, LeakyReLU(0.2) in D, and N(0, 0.02)
initial weights (`dcgan_init_`).

    G, D = dcgan_generator(latent_dim=64), dcgan_discriminator()
    fake = G(torch_or_mg.randn(16, 64))            # (16, 1, 28, 28) in [-1, 1]
    logits = D(fake)                               # (16,) real-vs-fake logits

Generator: z -> Linear to (2*width, 7, 7) -> BN ReLU -> ConvT 4x4/2 to (width, 14, 14) -> BN ReLU
-> ConvT 4x4/2 to (C, 28, 28) -> tanh. Discriminator: the mirror image with strided convs.
"""
from __future__ import annotations

from types import SimpleNamespace

from ._family import family


@family
def classes(nn):
    """DCGAN's generator and discriminator on the namespace `nn` (macrograd.nn or torch.nn)."""

    class Generator(nn.Module):
        """z (N, latent_dim) -> image (N, C, 28, 28) in [-1, 1]."""

        def __init__(self, latent_dim=64, out_channels=1, width=64):
            super().__init__()
            self.width = width
            self.project = nn.Sequential(nn.Linear(latent_dim, 2 * width * 7 * 7, bias=False),
                                         nn.BatchNorm1d(2 * width * 7 * 7), nn.ReLU())
            self.net = nn.Sequential(
                nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(width), nn.ReLU(),
                nn.ConvTranspose2d(width, out_channels, 4, stride=2, padding=1), nn.Tanh())

        def forward(self, z):
            return self.net(self.project(z).reshape(z.shape[0], 2 * self.width, 7, 7))

    class Discriminator(nn.Module):
        """image (N, C, 28, 28) -> real-vs-fake logit (N,)."""

        def __init__(self, in_channels=1, width=64):
            super().__init__()
            self.net = nn.Sequential(
                nn.Conv2d(in_channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
                nn.Conv2d(width, 2 * width, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
                nn.Flatten(), nn.Linear(2 * width * 7 * 7, 1))

        def forward(self, x):
            return self.net(x).reshape(x.shape[0])

    return SimpleNamespace(Generator=Generator, Discriminator=Discriminator)


def dcgan_generator(latent_dim=64, out_channels=1, width=64, nn=None):
    """DCGAN generator for 28x28 images."""
    return classes(nn).Generator(latent_dim, out_channels, width)


def dcgan_discriminator(in_channels=1, width=64, nn=None):
    """DCGAN discriminator for 28x28 images (logits, no sigmoid: use BCE-with-logits)."""
    return classes(nn).Discriminator(in_channels, width)


def dcgan_init_(model, init=None):
    """DCGAN's initialisation: conv and linear weights ~ N(0, 0.02), batch-norm scale ~ N(1, 0.02),
    biases 0. `init` is the nn.init module of the model's library (macrograd's by default)."""
    if init is None:
        from ..nn import init
    for name, module in model.named_modules():
        kind = type(module).__name__
        if kind in ("Conv2d", "ConvTranspose2d", "Linear"):
            init.normal_(module.weight, 0.0, 0.02)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif kind.startswith("BatchNorm"):
            init.normal_(module.weight, 1.0, 0.02)
            init.zeros_(module.bias)
    return model


Generator, Discriminator = classes().Generator, classes().Discriminator
