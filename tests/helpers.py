"""Small builders shared by the tests."""

import torch

from advlab.core.seeding import make_generator
from advlab.data import ring8
from advlab.gan.losses import make_loss
from advlab.gan.trainer import GANTrainer
from advlab.models import MLPDiscriminator, MLPGenerator


def tiny_trainer(k: int = 1, loss: str = "nonsaturating", seed: int = 0, optimizer: str = "adam") -> GANTrainer:
    """A ring8 trainer with tiny MLPs, fast enough for unit tests."""
    torch.manual_seed(seed)
    generator, discriminator = MLPGenerator(2, 2, 16, 2), MLPDiscriminator(2, 16, 2)
    make = (lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9)) if optimizer == "sgd" else \
        (lambda p: torch.optim.Adam(p, lr=1e-3, betas=(0.5, 0.999)))
    return GANTrainer(generator=generator, discriminator=discriminator, loss=make_loss(loss),
                      data=ring8(), optimizer_g=make(generator.parameters()),
                      optimizer_d=make(discriminator.parameters()),
                      sampler=make_generator(seed, torch.device("cpu")), z_dim=2, batch_size=32, k=k)


def snapshot(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b))
