"""Plain nn.Modules: MLPs for 2-D data, DCGAN for images, victim classifiers, Normalize."""

from advlab.models.classifiers import MLPClassifier, SmallCNN
from advlab.models.dcgan import DCGANDiscriminator, DCGANGenerator
from advlab.models.mlp import MLPDiscriminator, MLPGenerator
from advlab.models.normalize import Normalize

__all__ = ["DCGANDiscriminator", "DCGANGenerator", "MLPClassifier", "MLPDiscriminator", "MLPGenerator",
           "Normalize", "SmallCNN"]
