"""Pipelines of the image-to-image applications: pix2pix and CycleGAN (`advlab translate`), SRResNet and SRGAN
(`advlab superres`): config -> data + players + game -> run directory, inference on folders, evaluation."""
