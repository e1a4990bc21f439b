"""Image-to-image translation and super-resolution: pix2pix, CycleGAN, SRResNet and SRGAN (one game per file)."""
