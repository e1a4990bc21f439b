"""advlab.metrics.segmentation_score: the FCN-score of pix2pix (Isola et al. 2017, sec. 4.2) on "shapes" and
"materials".

The figures are checked against hand-counted confusions and scikit-learn's confusion matrix and Jaccard index; a
segmenter that reads the label colours scores 1.0 on the label maps themselves; a trained segmenter beats the
all-background guess on real held-out scenes and scores a flat grey scene far lower; training is seeded and
leaves torch's global random state alone. On "materials" the segmenter reads real held-out scenes far above chance
and falls to chance once they are blurred or flattened to each region's mean colour: texture alone carries the class.
"""

import pytest
import torch
from helpers import raises_one_line
from scipy import ndimage
from sklearn.metrics import confusion_matrix as sk_confusion
from sklearn.metrics import jaccard_score

from advlab.data.image_pairs import ImagePairs
from advlab.data.paired_sets import (
    LABEL_COLOURS,
    MATERIAL_CLASSES,
    MATERIAL_LABEL_COLOURS,
    SHAPE_CLASSES,
    decode_labels,
    encode_labels,
    load_paired,
)
from advlab.metrics.segmentation_score import (
    Segmenter,
    confusion_matrix,
    scores_from_confusion,
    segmentation_score,
    train_segmenter,
)


class ColourReader(torch.nn.Module):
    """Logits = minus the squared distance of each pixel to each label colour: reads a label map perfectly."""

    def __init__(self, palette=LABEL_COLOURS):
        super().__init__()
        self.palette = palette

    def forward(self, images):
        palette = self.palette.to(images.dtype)
        return -((images[:, None] - palette[None, :, :, None, None]) ** 2).sum(dim=2)


@pytest.fixture(scope="module")
def small_shapes():
    return load_paired("shapes", image_size=16, seed=0)


@pytest.fixture(scope="module")
def trained(small_shapes):
    return train_segmenter(small_shapes, seed=0, steps=300)  # ~4 s; mean IoU 0.96-0.98 at seeds 0-2


def test_perfect_predictions_score_one(small_shapes):
    maps = small_shapes.held_out.a
    score = segmentation_score(Segmenter(ColourReader()), maps, maps)
    assert score.pixel_accuracy == score.class_accuracy == score.mean_iou == 1.0
    assert score.images == len(maps)
    assert int(score.confusion.sum()) == maps.shape[0] * maps.shape[2] * maps.shape[3]
    assert torch.equal(score.confusion, torch.diag(score.confusion.diag()))


def test_a_hand_counted_confusion():
    truth = torch.tensor([[0, 0, 0], [1, 1, 2]])
    predicted = torch.tensor([[0, 0, 1], [1, 2, 2]])
    confusion = confusion_matrix(predicted, truth, 4)
    assert confusion.tolist() == [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    score = scores_from_confusion(confusion, ("a", "b", "c", "d"))
    assert score.pixel_accuracy == pytest.approx(4 / 6)
    assert score.class_accuracy == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)  # class d has no pixels: left out
    assert score.per_class_iou == pytest.approx({"a": 2 / 3, "b": 1 / 3, "c": 1 / 2, "d": None})
    assert score.mean_iou == pytest.approx((2 / 3 + 1 / 3 + 1 / 2) / 3)


def test_a_predicted_class_that_is_not_labelled_counts_in_the_mean_iou():
    score = scores_from_confusion(confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 0]), 2), ("a", "b"))
    assert score.per_class_iou == {"a": 0.5, "b": 0.0}
    assert score.mean_iou == 0.25 and score.class_accuracy == 0.5


def test_agrees_with_scikit_learn_on_random_labels():
    generator = torch.Generator().manual_seed(3)
    truth = torch.randint(5, (2000,), generator=generator)
    predicted = torch.where(torch.rand(2000, generator=generator) < 0.6, truth,
                            torch.randint(5, (2000,), generator=generator))
    confusion = confusion_matrix(predicted, truth, 5)
    assert confusion.tolist() == sk_confusion(truth.numpy(), predicted.numpy(), labels=range(5)).tolist()
    score = scores_from_confusion(confusion)
    assert score.mean_iou == pytest.approx(jaccard_score(truth.numpy(), predicted.numpy(), average="macro"))
    assert list(score.per_class_iou) == list(SHAPE_CLASSES)


def test_the_segmenter_beats_chance_on_real_scenes(trained, small_shapes):
    ceiling = trained.ceiling
    held = small_shapes.held_out
    background = float((segmentation_score(Segmenter(ColourReader()), held.a, held.a).confusion[0].sum())
                       / (held.a.shape[0] * 16 * 16))
    assert ceiling.images == len(held.a)
    assert ceiling.pixel_accuracy > background + 0.1  # all-background guessing scores `background`
    assert ceiling.mean_iou > 0.8  # all-background guessing: background / 5 classes, ~0.15
    grey = segmentation_score(trained, torch.full_like(held.b, 0.5), held.a)
    assert grey.mean_iou < ceiling.mean_iou - 0.3


def test_labels_may_be_given_as_class_indices(trained, small_shapes):
    held = small_shapes.held_out
    classes = ColourReader()(held.a).argmax(1)
    assert torch.equal(encode_labels(classes), held.a)
    by_maps = segmentation_score(trained, held.b, held.a)
    by_classes = segmentation_score(trained, held.b, classes)
    assert torch.equal(by_maps.confusion, by_classes.confusion)


def test_training_is_seeded_and_leaves_the_global_stream_alone(small_shapes):
    torch.manual_seed(11)
    before = torch.random.get_rng_state()
    first = train_segmenter(small_shapes, seed=4, steps=3)
    assert torch.equal(torch.random.get_rng_state(), before)
    second = train_segmenter(small_shapes, seed=4, steps=3)
    other = train_segmenter(small_shapes, seed=5, steps=3)
    pairs = list(zip(first.network.state_dict().values(), second.network.state_dict().values()))
    assert all(torch.equal(a, b) for a, b in pairs)
    assert not all(torch.equal(a, b) for a, b in zip(first.network.state_dict().values(),
                                                     other.network.state_dict().values()))


@pytest.fixture(scope="module")
def small_materials():
    return load_paired("materials", image_size=16, seed=0)


def test_a_materials_segmenter_decodes_with_the_materials_palette(small_materials):
    segmenter = train_segmenter(small_materials, seed=0, steps=1)
    assert segmenter.class_names == MATERIAL_CLASSES and torch.equal(segmenter.label_colours, MATERIAL_LABEL_COLOURS)
    assert segmenter.network(small_materials.b[:2]).shape == (2, len(MATERIAL_CLASSES), 16, 16)
    maps = small_materials.held_out.a
    perfect = segmentation_score(Segmenter(ColourReader(MATERIAL_LABEL_COLOURS), MATERIAL_CLASSES,
                                           label_colours=MATERIAL_LABEL_COLOURS), maps, maps)
    assert perfect.mean_iou == 1.0 and list(perfect.per_class_iou) == list(MATERIAL_CLASSES)
    as_shapes = segmentation_score(Segmenter(ColourReader(MATERIAL_LABEL_COLOURS), MATERIAL_CLASSES), maps, maps)
    assert as_shapes.mean_iou < 0.5  # the same maps decoded with the shapes palette: wrong classes
    renamed = ImagePairs(small_materials.a, small_materials.b, "my copy", held_out=small_materials.held_out)
    raises_one_line(lambda: train_segmenter(renamed, steps=1), "labels=")
    assert train_segmenter(renamed, steps=1, labels="materials").class_names == MATERIAL_CLASSES


def _region_means(scenes, classes):
    """Each connected region of one class replaced by its mean colour."""
    flat = scenes.clone()
    for image, label_map in zip(flat, classes.numpy()):
        for k in range(len(MATERIAL_CLASSES)):
            regions, count = ndimage.label(label_map == k)
            for region in range(1, count + 1):
                inside = torch.from_numpy(regions == region)
                image[:, inside] = image[:, inside].mean(1, keepdim=True)
    return flat


def test_on_materials_texture_alone_carries_the_class(small_materials):
    """16 px, 200 steps (~5 s). Measured at seeds 0-2: real held-out scenes mean IoU 0.78-0.80, pixel accuracy
    0.88-0.89; blurred (sigma 2 px) 0.04-0.06 / 0.19-0.22, each region's mean colour 0.04-0.06 / 0.19-0.21: chance
    (one class everywhere ~0.04 / 0.2, a uniform guess ~0.11 / 0.2). At 32 px and the default 400 steps: 0.93-0.94
    sharp, 0.03-0.04 blurred by sigma 1.5 or 2 px or flattened, 0.16-0.26 blurred by sigma 1 px."""
    segmenter = train_segmenter(small_materials, seed=0, steps=200)
    held = small_materials.held_out
    ceiling = segmenter.ceiling
    assert ceiling.mean_iou > 0.65 and ceiling.pixel_accuracy > 0.75 and ceiling.class_accuracy > 0.75
    blurred = torch.from_numpy(ndimage.gaussian_filter(held.b.numpy(), sigma=(0, 0, 2, 2), mode="reflect"))
    flattened = _region_means(held.b, decode_labels(held.a, "materials"))
    for scenes in (blurred, flattened):
        score = segmentation_score(segmenter, scenes, held.a)
        assert score.mean_iou < 0.12 and score.pixel_accuracy < 0.3 and score.class_accuracy < 0.3


def test_bad_input_is_one_line(trained, small_shapes):
    held = small_shapes.held_out
    raises_one_line(lambda: segmentation_score(trained, held.b[:3], held.a[:2]), "one label map per scene")
    raises_one_line(lambda: segmentation_score(trained, held.b[:, :1], held.a), "(N, 3, H, W) scenes")
    raises_one_line(lambda: confusion_matrix(torch.tensor([0, 7]), torch.tensor([0, 1]), 5), "[0, 5)")
    raises_one_line(lambda: confusion_matrix(torch.tensor([0]), torch.tensor([0, 1]), 5), "one shape")
    raises_one_line(lambda: scores_from_confusion(torch.zeros(5, 5)), "at least one pixel")
    unpaired = ImagePairs(held.a, held.b, "x", paired=False)
    raises_one_line(lambda: train_segmenter(unpaired, steps=1), "paired colour label maps")
    raises_one_line(lambda: train_segmenter(small_shapes, steps=0), "steps")
