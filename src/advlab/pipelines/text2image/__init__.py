"""Pipelines of text to image (`advlab text2image`): GAN-INT-CLS (Reed et al. 2016) on captioned images -- config ->
captioned images + text encoder + players + game -> run directory, sampling captions from a run, evaluation."""

from advlab.pipelines.text2image.configs import Text2ImageTrainConfig
from advlab.pipelines.text2image.evaluate_text2image import evaluate_text2image
from advlab.pipelines.text2image.sample_text2image import load_text2image_run, sample_text2image
from advlab.pipelines.text2image.train_text2image import text2image_config, train_text2image

__all__ = ["Text2ImageTrainConfig", "evaluate_text2image", "load_text2image_run",
           "sample_text2image", "text2image_config", "train_text2image"]
