"""Segmentation score: the FCN-score of pix2pix (Isola et al. 2017, sec. 4.2, Table 1) on advlab's label-map sets.

Isola et al. judge labels -> photo translations by how well an off-the-shelf semantic segmenter (FCN-8s, Long et al.
2015) trained on *real* Cityscapes photographs recovers the input label map from the *generated* photograph: "if
the generated images are realistic, classifiers trained on real images will be able to classify the synthesized
image correctly as well". They report per-pixel accuracy, per-class accuracy and class IoU of the segmenter's
predictions against the labels the photos were synthesised from, and the same figures on the real photos ("ground
truth": 0.80 / 0.26 / 0.21 in Table 1), the ceiling any generator can reach under that segmenter.

advlab's analogue works on the built-in paired sets with label maps (advlab.data.paired_sets.LABEL_CODINGS, nothing
downloaded): "shapes" (colour-coded label maps of 5 shape classes -> textured scenes, each class with its own colour
and outline) and "materials" (label maps of 5 materials -> scenes whose regions differ by texture alone, so a blurred
scene loses the class: the set on which the paper's L1-vs-L1+cGAN gap can show). The set's classes and label colours
come from its name (``data.name``, or ``labels=`` for a set renamed or made by hand):

* the segmenter (:class:`ShapeSegmenter`) is a small fully-convolutional network -- a 3x3 convolution, three 3x3
  convolutions dilated 2, 4 and 8 (the context module of Yu & Koltun 2016), a 3x3 convolution, each followed by
  batch norm and ReLU, then a 1x1 classifier: a 33 x 33 px receptive field, as wide as a 32 px scene -- trained on
  the CPU in seconds (:func:`train_segmenter`: per-pixel cross-entropy, Adam lr 2e-3, ``steps`` minibatches of
  ``batch_size`` real scenes drawn uniformly with replacement from a generator seeded with ``seed``; its initial
  weights are drawn under the same seed without touching torch's global random state) on the *training* scenes (the
  B side) to predict the label map of their A side (`decode_labels`);
* the score of a set of scenes (:func:`segmentation_score`) accumulates one confusion matrix C over all their
  pixels (rows: the true class from the input label map, columns: the predicted class), as FCN's evaluation does,
  and reports

      pixel accuracy = sum_c C_cc / sum_cc' C_cc'
      class accuracy = mean_c C_cc / sum_c' C_cc'                         (over classes present in the labels)
      mean IoU       = mean_c C_cc / (sum_c' C_cc' + sum_c' C_c'c - C_cc)  (over classes present or predicted)

* the segmenter's score on the real *held-out* scenes (``Segmenter.ceiling``) is the ceiling, stated beside every
  generator's score, as the paper's "ground truth" row.

On "shapes" three quarters of the pixels are background: predicting background everywhere gives pixel accuracy
~0.75, class accuracy 0.2 and mean IoU ~0.15; class accuracy and mean IoU are the figures that show the shapes. On
"materials" the 5 classes share the pixels about equally: one class everywhere gives pixel accuracy ~0.2, class
accuracy 0.2 and mean IoU ~0.04; a uniformly random guess ~0.2 / 0.2 / 0.11.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advlab.core.checks import check_int, check_number
from advlab.core.errors import AdvlabError
from advlab.data.image_pairs import ImagePairs
from advlab.data.paired_sets import LABEL_CODINGS, LABEL_COLOURS, SHAPE_CLASSES, decode_labels, label_coding

EVAL_BATCH = 256
DILATIONS = (1, 2, 4, 8, 1)


class ShapeSegmenter(nn.Module):
    """A small FCN: (N, channels, H, W) images in [0, 1] -> (N, classes, H, W) logits (any H, W).

    Args:
        channels: input channels (3 for scenes).
        classes: output classes (5 for "shapes" and for "materials").
        width: channels of every hidden layer.
    """

    def __init__(self, channels: int = 3, classes: int = len(SHAPE_CLASSES), width: int = 32):
        super().__init__()
        layers: list[nn.Module] = []
        previous = channels
        for dilation in DILATIONS:
            layers += [nn.Conv2d(previous, width, 3, padding=dilation, dilation=dilation, bias=False),
                       nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            previous = width
        layers.append(nn.Conv2d(width, classes, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, images: Tensor) -> Tensor:
        return self.net(images * 2 - 1)


@dataclass(frozen=True)
class SegmentationScore:
    """Figures of one set of scenes against their label maps (from one confusion matrix over all their pixels).

    Attributes:
        pixel_accuracy: share of pixels whose predicted class is the label's.
        class_accuracy: mean over the classes present in the labels of each class's pixel recall.
        mean_iou: mean over the classes present in labels or predictions of intersection / union.
        per_class_iou: {class name: IoU, or None where the class is neither labelled nor predicted}.
        images: the number of scenes scored.
        confusion: (classes, classes) int64 pixel counts, rows the true class, columns the predicted one.
    """

    pixel_accuracy: float
    class_accuracy: float
    mean_iou: float
    per_class_iou: dict[str, float | None]
    images: int
    confusion: Tensor = field(repr=False)

    def as_dict(self) -> dict:
        """The figures as plain JSON-ready values (the confusion matrix as nested lists)."""
        return {"pixel_accuracy": self.pixel_accuracy, "class_accuracy": self.class_accuracy,
                "mean_iou": self.mean_iou, "per_class_iou": dict(self.per_class_iou), "images": self.images,
                "confusion": self.confusion.tolist()}


@dataclass
class Segmenter:
    """A trained scene -> label-map segmenter.

    Attributes:
        network: the ShapeSegmenter (eval mode, CPU).
        class_names: the name of each class index.
        ceiling: its score on the real held-out scenes (the pix2pix paper's "ground truth" row), or None when the
            data had no held-out split.
        label_colours: (classes, 3) the label-map colour of each class, to decode colour-coded label maps given
            to `segmentation_score` ("shapes": LABEL_COLOURS).
    """

    network: nn.Module
    class_names: tuple[str, ...] = SHAPE_CLASSES
    ceiling: SegmentationScore | None = None
    label_colours: Tensor = field(default_factory=lambda: LABEL_COLOURS.clone(), repr=False)

    def predict(self, scenes: Tensor) -> Tensor:
        """(N, H, W) int64 class indices of (N, 3, H, W) scenes in [0, 1], on the CPU."""
        if scenes.ndim != 4 or scenes.shape[1] != 3:
            raise AdvlabError(f"the segmenter reads (N, 3, H, W) scenes in [0, 1], got shape {tuple(scenes.shape)}")
        scenes = scenes.detach().float().cpu()
        with torch.no_grad():
            return torch.cat([self.network(chunk).argmax(1) for chunk in scenes.split(EVAL_BATCH)])


def labels_of(label_maps: Tensor, colours: Tensor | None = None) -> Tensor:
    """(N, H, W) int64 classes: given as such, or decoded from (N, 3, H, W) colour-coded label maps by the nearest of
    `colours` ((classes, 3); default "shapes"' LABEL_COLOURS)."""
    if label_maps.ndim == 3 and not label_maps.is_floating_point():
        return label_maps.long().cpu()
    maps = label_maps.detach().float().cpu()
    if colours is None:
        return decode_labels(maps)
    if maps.ndim != 4 or maps.shape[1] != 3:
        raise AdvlabError(f"label maps must be (N, 3, H, W) colour-coded images or (N, H, W) int64 classes, got "
                          f"shape {tuple(maps.shape)}")
    palette = colours.to(maps.dtype).cpu()
    return ((maps[:, None] - palette[None, :, :, None, None]) ** 2).sum(dim=2).argmin(dim=1)


def confusion_matrix(predicted: Tensor, truth: Tensor, classes: int) -> Tensor:
    """(classes, classes) int64 counts of pixels with true class i (row) predicted as j (column).

    Args:
        predicted: int class indices, any shape.
        truth: int class indices, the same shape, each in [0, classes).
        classes: the number of classes.
    """
    if predicted.shape != truth.shape:
        raise AdvlabError(f"predictions and labels must have one shape, got {tuple(predicted.shape)} and "
                          f"{tuple(truth.shape)}")
    for name, values in (("predicted", predicted), ("truth", truth)):
        if values.numel() and (int(values.min()) < 0 or int(values.max()) >= classes):
            raise AdvlabError(f"{name} class indices must lie in [0, {classes}), found {int(values.min())}.."
                              f"{int(values.max())}")
    pairs = truth.reshape(-1).long() * classes + predicted.reshape(-1).long()
    return torch.bincount(pairs, minlength=classes * classes).reshape(classes, classes)


def scores_from_confusion(confusion: Tensor, class_names: tuple[str, ...] = SHAPE_CLASSES,
                          images: int = 0) -> SegmentationScore:
    """Pixel accuracy, class accuracy and mean IoU of a confusion matrix (rows true, columns predicted), with
    FCN's conventions: a class absent from the labels does not enter the class accuracy, a class neither labelled
    nor predicted does not enter the mean IoU."""
    confusion = confusion.to(torch.float64)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1] or confusion.sum() <= 0:
        raise AdvlabError("a confusion matrix must be square and count at least one pixel")
    if len(class_names) != confusion.shape[0]:
        raise AdvlabError(f"{len(class_names)} class names for a {confusion.shape[0]}-class confusion matrix")
    hits, labelled, predicted = confusion.diag(), confusion.sum(1), confusion.sum(0)
    union = labelled + predicted - hits
    iou = [float(h / u) if u > 0 else None for h, u in zip(hits, union)]
    recalls = [float(h / n) for h, n in zip(hits, labelled) if n > 0]
    present = [value for value in iou if value is not None]
    return SegmentationScore(pixel_accuracy=float(hits.sum() / confusion.sum()),
                             class_accuracy=sum(recalls) / len(recalls), mean_iou=sum(present) / len(present),
                             per_class_iou=dict(zip(class_names, iou)), images=images,
                             confusion=confusion.round().long())


def segmentation_score(segmenter: Segmenter, scenes: Tensor, label_maps: Tensor) -> SegmentationScore:
    """The FCN-score of `scenes` (N, 3, H, W) in [0, 1] against `label_maps`: (N, 3, H, W) colour-coded label maps
    (the pix2pix inputs the scenes were made from) or (N, H, W) int64 classes."""
    truth = labels_of(label_maps, segmenter.label_colours)
    if len(scenes) == 0 or len(scenes) != len(truth) or tuple(scenes.shape[-2:]) != tuple(truth.shape[-2:]):
        raise AdvlabError(f"segmentation_score needs one label map per scene, of the scene's size; got "
                          f"{tuple(scenes.shape)} scenes and {tuple(truth.shape)} labels")
    classes = len(segmenter.class_names)
    confusion = confusion_matrix(segmenter.predict(scenes), truth, classes)
    return scores_from_confusion(confusion, segmenter.class_names, images=len(scenes))


def train_segmenter(data: ImagePairs, seed: int = 0, steps: int = 400, batch_size: int = 32, lr: float = 2e-3,
                    width: int = 16, labels: str | None = None) -> Segmenter:
    """A segmenter of the real scenes ``data.b`` into the classes of their label maps ``data.a``.

    Args:
        data: a paired set with label maps (load_paired("shapes") or load_paired("materials"), direction AtoB): a =
            colour-coded label maps (N, 3, H, W), b = scenes (N, 3, H, W); its ``held_out`` pairs give the ceiling.
        seed: seeds the initial weights and the minibatches.
        steps: Adam steps (400 at batch 32 on 900 scenes: ~20 s on one busy CPU thread).
        batch_size: scenes per minibatch.
        lr: Adam's learning rate.
        width: hidden channels of the ShapeSegmenter.
        labels: the set whose classes and label colours ``data.a`` uses ("shapes" or "materials"); default: the
            set named ``data.name``.
    """
    check_int("seed", seed, 0)
    check_int("steps", steps, 1)
    check_int("batch_size", batch_size, 1)
    check_int("width", width, 1)
    check_number("lr", lr, 0.0, strict=True)
    if not data.paired or data.a.shape[1] != 3 or data.b.shape[1] != 3 or data.a.shape[-2:] != data.b.shape[-2:]:
        raise AdvlabError("the segmenter learns from paired colour label maps (a) and scenes (b) of one size: "
                          "load_paired('shapes') or load_paired('materials') with direction AtoB")
    if labels is None and data.name not in LABEL_CODINGS:
        raise AdvlabError(f"the segmenter does not know the classes of {data.name!r}: pass labels= one of "
                          f"{', '.join(LABEL_CODINGS)} (the set whose label colours data.a uses)")
    coding = label_coding(data.name if labels is None else labels)
    scenes, truth = data.b.detach().float().cpu(), labels_of(data.a, coding.colours)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = ShapeSegmenter(classes=len(coding.classes), width=width)
    _fit(network, scenes, truth, torch.Generator().manual_seed(seed), steps, batch_size, lr)
    segmenter = Segmenter(network.eval(), coding.classes, label_colours=coding.colours.clone())
    if data.held_out is not None:
        segmenter.ceiling = segmentation_score(segmenter, data.held_out.b, data.held_out.a)
    return segmenter


def _fit(network: nn.Module, scenes: Tensor, labels: Tensor, generator: torch.Generator, steps: int,
         batch_size: int, lr: float) -> None:
    """Per-pixel cross-entropy (FCN's loss) on uniform minibatches, Adam."""
    optimizer = torch.optim.Adam(network.parameters(), lr=lr)
    network.train()
    for _ in range(steps):
        rows = torch.randint(len(scenes), (batch_size,), generator=generator)
        loss = F.cross_entropy(network(scenes[rows]), labels[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


__all__ = ["SegmentationScore", "Segmenter", "ShapeSegmenter", "confusion_matrix", "scores_from_confusion",
           "segmentation_score", "train_segmenter"]
