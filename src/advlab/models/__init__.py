"""Plain nn.Modules: MLPs for 2-D data, DCGAN for images, victim classifiers, Normalize, the FID Inception-v3."""

from advlab.models.classifiers import MLPClassifier, SmallCNN
from advlab.models.dcgan import DCGANDiscriminator, DCGANGenerator
from advlab.models.inception_fid import FIDInceptionV3, load_fid_inception
from advlab.models.mlp import MLPDiscriminator, MLPGenerator
from advlab.models.normalize import Normalize

__all__ = ["DCGANDiscriminator", "DCGANGenerator", "FIDInceptionV3", "MLPClassifier", "MLPDiscriminator",
           "MLPGenerator", "Normalize", "SmallCNN", "load_fid_inception"]
