"""Plain nn.Modules: MLPs for 2-D data, DCGAN for images."""

from advlab.models.dcgan import DCGANDiscriminator, DCGANGenerator
from advlab.models.mlp import MLPDiscriminator, MLPGenerator

__all__ = ["DCGANDiscriminator", "DCGANGenerator", "MLPDiscriminator", "MLPGenerator"]
