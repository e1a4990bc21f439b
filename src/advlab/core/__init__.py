"""The house's foundation: errors, typed configs, seeding, devices, checkpoints, run directories."""

from advlab.core.checkpoints import load_latest, read_tensors, save_checkpoint
from advlab.core.config import from_mapping, load_yaml
from advlab.core.devices import resolve_device
from advlab.core.errors import AdvlabError
from advlab.core.runs import RunDir
from advlab.core.seeding import make_generator, seed_everything

__all__ = ["AdvlabError", "RunDir", "from_mapping", "load_latest", "load_yaml", "make_generator",
           "read_tensors", "resolve_device", "save_checkpoint", "seed_everything"]
