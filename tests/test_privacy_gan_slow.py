"""Issue 22's GAN privacy check, its memorisation half: a GAN trained long on 64 images copies them, one trained as
long on 1,000 does not, and advlab.privacy.gan.memorisation tells the two apart (500 samples against 300 held-out
real digits, a copy = nearest-training / nearest-held-out distance below 1/3).

Budget: two MLP GANs on scikit-learn's 8x8 digits, 12,000 steps of 64 each (~25 s on one thread). Measured at seeds
0, 1, 2: copy share 0.59 / 0.45 / 0.57 (median ratio 0.28-0.37) for 64 images, 0.000 (median ratio 0.97-0.99) for
1,000. The GAN-Leaks half of the issue's check is not asserted yet: at this setting its black-box AUC does not
separate the two GANs (see the session note)."""

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from advlab.privacy.gan import memorisation

STEPS, Z = 12_000, 16


def digits() -> torch.Tensor:
    images = torch.tensor(load_digits().images, dtype=torch.float32).div(16).unsqueeze(1)
    return images[torch.randperm(len(images), generator=torch.Generator().manual_seed(0))]


def trained_generator(data: torch.Tensor, seed: int = 0) -> nn.Module:
    """A non-saturating MLP GAN (Adam 1e-3, beta1 0.5, minibatches of 64) trained for STEPS steps."""
    torch.manual_seed(seed)
    generator = nn.Sequential(nn.Linear(Z, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 64),
                              nn.Sigmoid(), nn.Unflatten(1, (1, 8, 8)))
    discriminator = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.LeakyReLU(0.2), nn.Linear(128, 128),
                                  nn.LeakyReLU(0.2), nn.Linear(128, 1))
    g_opt = torch.optim.Adam(generator.parameters(), 1e-3, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(discriminator.parameters(), 1e-3, betas=(0.5, 0.999))
    draw = torch.Generator().manual_seed(seed)
    for _ in range(STEPS):
        real = data[torch.randint(len(data), (64,), generator=draw)]
        fake = generator(torch.randn(64, Z, generator=draw))
        d_loss = F.softplus(-discriminator(real)).mean() + F.softplus(discriminator(fake.detach())).mean()
        d_opt.zero_grad()
        d_loss.backward()
        d_opt.step()
        g_loss = F.softplus(-discriminator(fake)).mean()
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
    return generator


@pytest.mark.slow
def test_memorisation_flags_the_gan_that_copied_its_64_images():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        images = digits()
        held_out = images[1000:1300]
        found = {}
        for n in (64, 1000):
            generator = trained_generator(images[:n])
            with torch.no_grad():
                samples = generator(torch.randn(500, Z, generator=torch.Generator().manual_seed(1)))
            found[n] = memorisation(samples, images[:n], held_out)
    finally:
        torch.set_num_threads(threads)
    assert found[64].copy_share >= 0.25 and found[1000].copy_share <= 0.05
    assert found[64].ratios.median() < 0.6 < found[1000].ratios.median()
    assert len(found[64].pairs[0]) > 0 and torch.all(found[64].pair_ratios < 1 / 3)
