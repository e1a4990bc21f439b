"""Text to image (Reed et al. 2016, "Generative adversarial text to image synthesis"): the word vocabulary and the
text encoder advlab trains -- a structured joint embedding of captions and images (Reed, Akata, Lee & Schiele 2016)
whose text side phi(t) conditions GAN-INT-CLS. The captioned data sets live in advlab.data.captioned_sets, the
metrics (attribute accuracy, R-precision, FID on the attribute classifier's features) in advlab.metrics.text_image.
"""

from advlab.text2image.embedding import (
    ImageEncoder,
    JointEmbedding,
    TextEncoder,
    joint_embedding,
    joint_embedding_loss,
    load_joint_embedding,
    save_joint_embedding,
)
from advlab.text2image.vocabulary import PAD, Vocabulary, tokenize

__all__ = ["PAD", "ImageEncoder", "JointEmbedding", "TextEncoder", "Vocabulary", "joint_embedding",
           "joint_embedding_loss", "load_joint_embedding", "save_joint_embedding", "tokenize"]
