"""The glue: config -> data + models + game -> run directory."""

from advlab.pipelines.attack_run import AttackRunConfig, attack_run
from advlab.pipelines.classifier_config import ClassifierTrainConfig
from advlab.pipelines.gan_config import GANTrainConfig
from advlab.pipelines.sample_gan import sample_run
from advlab.pipelines.smooth_run import SmoothRunConfig, smooth_run
from advlab.pipelines.train_classifier import held_out_split, load_classifier, train_classifier
from advlab.pipelines.train_gan import resume_config, train_gan

__all__ = ["AttackRunConfig", "ClassifierTrainConfig", "GANTrainConfig", "attack_run", "held_out_split",
           "load_classifier", "resume_config", "sample_run", "SmoothRunConfig", "smooth_run", "train_classifier",
           "train_gan"]
