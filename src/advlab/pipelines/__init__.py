"""The glue: config -> data + models + game -> run directory."""

from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.gan.gan_config import GANTrainConfig
from advlab.pipelines.gan.sample_gan import sample_run
from advlab.pipelines.gan.train_gan import resume_config, train_gan
from advlab.pipelines.security.attack_run import AttackRunConfig, attack_run
from advlab.pipelines.security.smooth_run import SmoothRunConfig, smooth_run
from advlab.pipelines.train_classifier import held_out_split, load_classifier, train_classifier

__all__ = ["AttackRunConfig", "ClassifierTrainConfig", "GANTrainConfig", "attack_run", "held_out_split",
           "load_classifier", "resume_config", "sample_run", "SmoothRunConfig", "smooth_run", "train_classifier",
           "train_gan"]
