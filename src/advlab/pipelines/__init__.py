"""The glue: config -> data + models + game -> run directory."""

from advlab.pipelines.gan_config import GANTrainConfig
from advlab.pipelines.sample_gan import sample_run
from advlab.pipelines.train_gan import resume_config, train_gan

__all__ = ["GANTrainConfig", "resume_config", "sample_run", "train_gan"]
