"""AC-GAN (Odena et al. 2017, sec. 3): the two-headed discriminator and the losses, against hand computations."""

import math

import pytest
import torch
import torch.nn.functional as F
from helpers import raises_one_line

from advlab.core.modes import evaluating
from advlab.core.seeding import make_generator
from advlab.data import load_digits_images
from advlab.gan.acgan_loss import acgan_discriminator_loss, acgan_generator_loss, class_accuracy
from advlab.gan.losses import make_loss
from advlab.models.acgan import ACGANDiscriminator, ACGANGenerator, ACGANScores
from advlab.models.conditional import ConditionalDCGANGenerator

# D's outputs on three real and three generated images, three classes
REAL_SOURCE = torch.tensor([2.0, -1.0, 0.5])
FAKE_SOURCE = torch.tensor([-3.0, 0.0, 1.0])
REAL_LOGITS = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0], [-1.0, 3.0, 1.0]])
FAKE_LOGITS = torch.tensor([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5], [0.0, 1.0, 2.0]])
REAL_LABELS = torch.tensor([0, 2, 1])
FAKE_LABELS = torch.tensor([1, 0, 0])
REAL_OUT, FAKE_OUT = (REAL_SOURCE, REAL_LOGITS), (FAKE_SOURCE, FAKE_LOGITS)


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def mean(values):
    return sum(values) / len(values)


def log_p_class(logits, labels):
    """E[log P(C = c | X)] by hand: the mean log-softmax at each label."""
    return mean([row[c] - math.log(sum(math.exp(v) for v in row)) for row, c in zip(logits.tolist(), labels.tolist())])


# the paper's maximised quantities, written out with P(S = real | X) = sigmoid(source score)
L_S = mean([math.log(sigmoid(r)) for r in REAL_SOURCE]) + mean([math.log(1 - sigmoid(f)) for f in FAKE_SOURCE])
L_C = log_p_class(REAL_LOGITS, REAL_LABELS) + log_p_class(FAKE_LOGITS, FAKE_LABELS)


def test_discriminator_descends_minus_ls_minus_lc():
    loss = acgan_discriminator_loss(make_loss("minimax"), REAL_OUT, FAKE_OUT, REAL_LABELS, FAKE_LABELS)
    assert loss.item() == pytest.approx(-(L_S + L_C), rel=1e-6)


def test_generator_descends_ls_minus_lc_up_to_its_real_terms():
    # L_S - L_C minus the terms that do not depend on G (those of the real images)
    real_terms = mean([math.log(sigmoid(r)) for r in REAL_SOURCE]) - log_p_class(REAL_LOGITS, REAL_LABELS)
    loss = acgan_generator_loss(make_loss("minimax"), FAKE_OUT, FAKE_LABELS)
    assert loss.item() == pytest.approx(L_S - L_C - real_terms, rel=1e-6)


def test_weight_scales_the_class_terms_and_other_source_losses_plug_in():
    hinge_d = mean([max(0, 1 - r) for r in REAL_SOURCE.tolist()]) + mean([max(0, 1 + f) for f in FAKE_SOURCE.tolist()])
    fake_ce = -log_p_class(FAKE_LOGITS, FAKE_LABELS)
    loss_d = acgan_discriminator_loss(make_loss("hinge"), REAL_OUT, FAKE_OUT, REAL_LABELS, FAKE_LABELS, weight=0.5)
    assert loss_d.item() == pytest.approx(hinge_d + 0.5 * -L_C, rel=1e-6)
    nonsaturating_g = -mean([math.log(sigmoid(f)) for f in FAKE_SOURCE])
    loss_g = acgan_generator_loss(make_loss("nonsaturating"), FAKE_OUT, FAKE_LABELS, weight=2.0)
    assert loss_g.item() == pytest.approx(nonsaturating_g + 2.0 * fake_ce, rel=1e-6)
    # weight 0: the source loss alone
    assert acgan_generator_loss(make_loss("hinge"), FAKE_OUT, FAKE_LABELS, weight=0).item() == pytest.approx(
        -mean(FAKE_SOURCE.tolist()))


def test_class_accuracy_counts_argmax_hits():
    assert class_accuracy(REAL_LOGITS, REAL_LABELS).item() == pytest.approx(2 / 3)  # rows 0 and 2 right
    assert class_accuracy(FAKE_LOGITS, FAKE_LABELS).item() == pytest.approx(1 / 3)  # argmax of a tie is 0


def test_bad_inputs_are_one_line_errors():
    minimax = make_loss("minimax")
    raises_one_line(lambda: acgan_generator_loss(minimax, FAKE_OUT, torch.tensor([0, 3, 1])), "[0, 3)", "0 to 3")
    raises_one_line(lambda: acgan_generator_loss(minimax, FAKE_OUT, torch.tensor([0, 1])), "expected 3 labels")
    raises_one_line(lambda: acgan_generator_loss(minimax, (FAKE_SOURCE, FAKE_SOURCE), FAKE_LABELS), "(N, classes)")
    raises_one_line(lambda: acgan_discriminator_loss(minimax, REAL_OUT, FAKE_OUT, REAL_LABELS, FAKE_LABELS,
                                                     weight=-1), "weight", ">= 0")
    raises_one_line(lambda: class_accuracy(REAL_LOGITS, torch.tensor([0, 1])), "expected 3 labels")


def test_discriminator_returns_source_scores_and_class_logits():
    torch.manual_seed(0)
    model = ACGANDiscriminator(16, 7, 3, 8)
    out = model(torch.rand(5, 3, 16, 16))
    source, logits = out  # a plain tuple, as the trainer unpacks it
    assert isinstance(out, ACGANScores) and out.source is source and out.class_logits is logits
    assert source.shape == (5,) and logits.shape == (5, 7)
    # the two heads read the same trunk features
    assert model.source_head.in_channels == model.class_head.in_channels == 16


def test_generator_is_the_conditional_dcgan_generator():
    assert ACGANGenerator is ConditionalDCGANGenerator
    images = ACGANGenerator(8, 10, 16, 1, 8)(torch.randn(4, 8), torch.tensor([0, 1, 2, 9]))
    assert images.shape == (4, 1, 16, 16)


def test_losses_train_both_heads_and_the_generator():
    torch.manual_seed(0)
    generator, discriminator = ACGANGenerator(8, 10, 8, 1, 8), ACGANDiscriminator(8, 10, 1, 8)
    labels = torch.arange(4)
    fake = generator(torch.randn(4, 8), labels)
    loss = acgan_discriminator_loss(make_loss("nonsaturating"), discriminator(torch.rand(4, 1, 8, 8)),
                                    discriminator(fake.detach()), labels, labels)
    loss.backward()
    assert discriminator.source_head.weight.grad.abs().sum() > 0
    assert discriminator.class_head.weight.grad.abs().sum() > 0
    acgan_generator_loss(make_loss("nonsaturating"), discriminator(fake), labels).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in generator.parameters())


def test_classifier_head_learns_digit_labels():
    # the check: D's class head, trained alone on real digits, classifies held-out digits
    torch.manual_seed(0)
    rng = make_generator(0, torch.device("cpu"))
    digits = load_digits_images(8)
    order = torch.randperm(len(digits), generator=rng)
    train, held_out = order[:1400], order[1400:]
    model = ACGANDiscriminator(8, 10, 1, 32)
    source_before = model.source_head.weight.detach().clone()
    with torch.no_grad(), evaluating(model):
        chance = class_accuracy(model(digits.data[held_out]).class_logits, digits.labels[held_out]).item()
    optimizer = torch.optim.Adam([*model.trunk.parameters(), *model.class_head.parameters()], 2e-3, betas=(0.5, 0.999))
    for _ in range(300):
        rows = train[torch.randint(len(train), (64,), generator=rng)]
        loss = F.cross_entropy(model(digits.data[rows]).class_logits, digits.labels[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad(), evaluating(model):
        accuracy = class_accuracy(model(digits.data[held_out]).class_logits, digits.labels[held_out]).item()
    assert chance < 0.3
    assert accuracy >= 0.9  # measured 0.967-0.970 for seeds 0-2
    assert torch.equal(model.source_head.weight, source_before)
