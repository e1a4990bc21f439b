"""Text to image (Reed et al. 2016, "Generative adversarial text to image synthesis"): GAN-INT-CLS (the matching-aware
discriminator and the interpolated embeddings) and the text encoder advlab trains -- a structured joint embedding of
captions and images (Reed, Akata, Lee & Schiele 2016) whose text side phi(t) conditions it. The captioned data sets
and the word vocabulary live in advlab.data (captioned_sets, vocabulary), the metrics (attribute accuracy,
R-precision, FID on the attribute classifier's features) in advlab.metrics.text_image.
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
from advlab.text2image.gan_int_cls import (
    METHODS,
    GanIntCls,
    ScaledEncoder,
    generate,
    interpolate,
    interpolate_embeddings,
    method_weights,
    paired_interpolations,
    synthesise,
)

__all__ = ["METHODS", "GanIntCls", "ImageEncoder", "JointEmbedding", "ScaledEncoder", "TextEncoder", "generate",
           "interpolate", "interpolate_embeddings", "joint_embedding", "joint_embedding_loss", "load_joint_embedding",
           "method_weights", "paired_interpolations", "save_joint_embedding", "synthesise"]
