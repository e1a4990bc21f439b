"""Plain nn.Modules: MLPs for 2-D data, the GAN family for images (DCGAN, conditional and projection, ACGAN,
SNGAN, SAGAN, ProGAN, Metz et al.'s stacked-MNIST DCGAN), victim classifiers (SmallCNN, MadryCNN, LeNet5, MLP),
Normalize, the FID Inception-v3."""

from advlab.models.acgan import ACGANDiscriminator
from advlab.models.classifiers import MadryCNN, MLPClassifier, SmallCNN
from advlab.models.conditional import (
    ConditionalDCGANDiscriminator,
    ConditionalDCGANGenerator,
    ConditionalMLPDiscriminator,
    ConditionalMLPGenerator,
    ProjectionDiscriminator,
)
from advlab.models.dcgan import DCGANDiscriminator, DCGANGenerator
from advlab.models.inception_fid import FIDInceptionV3, load_fid_inception
from advlab.models.lenet import LeNet5
from advlab.models.metz_dcgan import MetzDiscriminator, MetzGenerator
from advlab.models.midinet import MidiNetDiscriminator, MidiNetGenerator, PreviousBarConditioner
from advlab.models.mlp import MLPDiscriminator, MLPGenerator
from advlab.models.normalize import Normalize
from advlab.models.patchgan import PatchDiscriminator
from advlab.models.pixelcnn import PixelCNN, load_pixelcnn, save_pixelcnn, train_pixelcnn
from advlab.models.progan import ProGANDiscriminator, ProGANGenerator
from advlab.models.resnet_generator import ResnetGenerator
from advlab.models.sagan import SAGANDiscriminator, SAGANGenerator
from advlab.models.self_attention import SelfAttention
from advlab.models.sngan import SNGANDiscriminator, SNGANGenerator
from advlab.models.spectral_norm import apply_spectral_norm, spectral_norm
from advlab.models.speech import (
    CTCRecogniser,
    KeywordClassifier,
    LogMel,
    SpeechModel,
    build_speech_model,
    export_speech_model,
    load_speech_model,
    mel_filterbank,
)
from advlab.models.srresnet import SRDiscriminator, SRResNet
from advlab.models.text_gan import MatchingAwareDiscriminator, TextToImageGenerator
from advlab.models.unet import UNetGenerator

__all__ = [
    "CTCRecogniser", "KeywordClassifier", "LogMel", "SpeechModel", "build_speech_model", "export_speech_model",
    "load_speech_model", "mel_filterbank",
    "ACGANDiscriminator", "ConditionalDCGANDiscriminator", "ConditionalDCGANGenerator", "ConditionalMLPDiscriminator",
    "ConditionalMLPGenerator", "DCGANDiscriminator", "DCGANGenerator", "FIDInceptionV3", "LeNet5", "MLPClassifier",
    "MLPDiscriminator", "MLPGenerator", "MadryCNN", "Normalize", "ProGANDiscriminator", "ProGANGenerator",
    "ProjectionDiscriminator",
    "SAGANDiscriminator", "SAGANGenerator", "SNGANDiscriminator", "SNGANGenerator", "SelfAttention", "SmallCNN",
    "apply_spectral_norm", "load_fid_inception", "spectral_norm",
    "PatchDiscriminator", "ResnetGenerator", "SRDiscriminator", "SRResNet", "UNetGenerator",
    "MidiNetDiscriminator", "MidiNetGenerator", "PreviousBarConditioner", "MatchingAwareDiscriminator",
    "TextToImageGenerator", "PixelCNN", "load_pixelcnn", "save_pixelcnn", "train_pixelcnn",
    "MetzDiscriminator", "MetzGenerator",
]
