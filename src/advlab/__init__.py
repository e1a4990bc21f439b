"""advlab: adversarial machine learning with a focus on GANs.

Subpackages: core (config, checkpoints, runs), data, models, gan (losses, trainer), metrics,
reports, pipelines (train/sample), cli.
"""

__version__ = "0.1.0"

from advlab.core.errors import AdvlabError  # noqa: E402

__all__ = ["AdvlabError", "__version__"]
