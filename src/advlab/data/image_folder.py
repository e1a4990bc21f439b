"""Loading a folder of image files (PNG, JPEG, BMP, GIF, WebP) with Pillow.

The layout follows the convention of torchvision's ``ImageFolder``: when every image
sits inside a first-level subfolder, the subfolder names are the classes (sorted, so
the label of a class is its index in sorted order); otherwise the images are unlabelled.
Files are read in sorted order, so the same folder always gives the same tensor.

Pixel values are scaled to [0, 1]: 8-bit channels by 255, 16-bit grayscale by 65535.
Colour is turned into gray with ITU-R BT.601 luma (the weights Pillow's ``convert("L")``
uses); gray into colour by repeating the channel. Alpha channels are dropped; GIFs and
other animations contribute their first frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from advlab.core.errors import AdvlabError
from advlab.data.resize import check_image_size, resize_images
from advlab.data.tensor_data import TensorData

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
GRAYSCALE_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N"})
SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})
BT601_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def find_image_files(root: Path) -> list[Path]:
    """All image files under ``root``, recursively, sorted by their path relative to it."""
    files = [
        path
        for path in root.rglob("*")
        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS
    ]
    return sorted(files, key=lambda path: path.relative_to(root).as_posix())


def decode_image(path: Path) -> np.ndarray:
    """Decode one image to float32 in [0, 1]: (H, W) if grayscale, (H, W, 3) if colour."""
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in SIXTEEN_BIT_MODES:
                pixels = np.asarray(image, dtype=np.float32) / 65535.0
                return np.clip(pixels, 0.0, 1.0)
            target_mode = "L" if image.mode in GRAYSCALE_MODES else "RGB"
            return np.asarray(image.convert(target_mode), dtype=np.float32) / 255.0
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise AdvlabError(f"{path}: cannot read this image ({error})") from error


def with_channels(pixels: np.ndarray, channels: int) -> np.ndarray:
    """(H, W) or (H, W, 3) -> (channels, H, W)."""
    is_gray = pixels.ndim == 2
    if channels == 1:
        gray = pixels if is_gray else pixels @ BT601_LUMA_WEIGHTS
        return gray[np.newaxis]
    color = np.repeat(pixels[..., np.newaxis], 3, axis=2) if is_gray else pixels
    return color.transpose(2, 0, 1)


def check_same_size(files: list[Path], arrays: list[np.ndarray]) -> None:
    """Without ``image_size``, every image must have the first image's height and width."""
    first_size = arrays[0].shape[:2]
    for path, pixels in zip(files, arrays):
        if pixels.shape[:2] != first_size:
            raise AdvlabError(
                f"{path}: expected every image to be {first_size[1]}x{first_size[0]} like "
                f"{files[0]}, found {pixels.shape[1]}x{pixels.shape[0]}; "
                "pass image_size to resize them all"
            )


def _class_labels(root: Path, files: list[Path]) -> torch.Tensor | None:
    """Labels from first-level subfolder names, or ``None`` if any image lies directly in root."""
    relative_parts = [path.relative_to(root).parts for path in files]
    if any(len(parts) < 2 for parts in relative_parts):
        return None
    class_names = sorted({parts[0] for parts in relative_parts})
    class_index = {name: index for index, name in enumerate(class_names)}
    return torch.tensor([class_index[parts[0]] for parts in relative_parts], dtype=torch.int64)


def load_image_folder(
    path: str | Path,
    image_size: int | None = None,
    channels: int | None = None,
) -> TensorData:
    """Load every image under ``path`` as (N, C, H, W) float32 in [0, 1].

    Args:
        path: a directory, searched recursively.
        image_size: resize every image to (image_size, image_size); required when the
            images differ in size.
        channels: 1 or 3; ``None`` picks 1 when every image is grayscale, else 3.
    """
    root = Path(path)
    check_image_size(image_size)
    if channels not in (None, 1, 3):
        raise AdvlabError(f"channels: expected 1, 3 or None, found {channels!r}")
    if not root.is_dir():
        found = "a file" if root.exists() else "nothing there"
        raise AdvlabError(f"{root}: expected a directory of images, found {found}")
    files = find_image_files(root)
    if not files:
        raise AdvlabError(
            f"{root}: no images found (looked recursively for {', '.join(IMAGE_EXTENSIONS)})"
        )
    arrays = [decode_image(file) for file in files]
    if channels is None:
        channels = 1 if all(pixels.ndim == 2 for pixels in arrays) else 3
    tensors = [torch.from_numpy(with_channels(pixels, channels)) for pixels in arrays]
    if image_size is None:
        check_same_size(files, arrays)
        images = torch.stack(tensors)
    else:
        images = torch.cat([resize_images(t.unsqueeze(0), image_size) for t in tensors])
    return TensorData(images.contiguous(), _class_labels(root, files), root.resolve().name)


def read_image(path: str | Path, channels: int) -> torch.Tensor:
    """One image file as a (channels, H, W) float32 tensor in [0, 1] (gray to colour or colour to gray as the
    folder loader converts)."""
    path = Path(path)
    if not path.is_file():
        raise AdvlabError(f"{path}: no such image file")
    return torch.from_numpy(np.ascontiguousarray(with_channels(decode_image(path), channels)))


def image_files(path: str | Path) -> list[Path]:
    """The image files of `path`: the file itself, or every image under a directory (sorted); an AdvlabError when
    there is none."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            raise AdvlabError(f"{path}: not an image file ({', '.join(IMAGE_EXTENSIONS)})")
        return [path]
    if not path.is_dir():
        raise AdvlabError(f"{path}: no such file or directory")
    files = find_image_files(path)
    if not files:
        raise AdvlabError(f"{path}: no images found (looked recursively for {', '.join(IMAGE_EXTENSIONS)})")
    return files


def write_image(image: torch.Tensor, path: str | Path) -> Path:
    """Save a (C, H, W) image in [0, 1] (C in {1, 3}) as an 8-bit PNG or JPEG (by the suffix); folders are made."""
    pixels = (image.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    array = pixels.permute(1, 2, 0).numpy()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array).save(path)
    return path
