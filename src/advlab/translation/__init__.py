"""Image-to-image translation and super-resolution, one game per file: pix2pix (Isola et al. 2017), CycleGAN (Zhu et
al. 2017) with its image pool, SRResNet and SRGAN (Ledig et al. 2017). Each game is an advlab.core.game.Game: players,
optimisers, one training iteration on a minibatch of (inputs, targets), and ``translate`` for inference; the
training loop, run directories and commands live in advlab.pipelines (game_loop.py, translation/)."""

from advlab.translation.cyclegan import CycleGAN, cycle_error, cyclegan_models
from advlab.translation.image_pool import ImagePool
from advlab.translation.pix2pix import Pix2Pix, paper_inference
from advlab.translation.srgan import SRGAN
from advlab.translation.srresnet import SRResNetTraining

__all__ = ["SRGAN", "CycleGAN", "ImagePool", "Pix2Pix", "SRResNetTraining", "cycle_error",
           "cyclegan_models", "paper_inference"]
