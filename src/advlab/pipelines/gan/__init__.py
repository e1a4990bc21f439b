"""Pipelines of the generative half: GAN configs, training, sampling and evaluation runs."""
