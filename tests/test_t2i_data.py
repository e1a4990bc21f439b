"""Captioned image sets (advlab.data.captioned_sets): captions agree with what was drawn, the wrong text of GAN-CLS
comes from an image with other attributes, and the user's folder of images plus captions file."""

import numpy as np
import pytest
import torch
from PIL import Image

from advlab.core.errors import AdvlabError
from advlab.data.captioned_sets import (
    COLOURS,
    PALETTE,
    SHAPE_ATTRIBUTES,
    SHAPES,
    build_shapes,
    caption_attributes,
    load_captioned,
    load_shapes,
    parse_shapes_caption,
)


@pytest.fixture(scope="module")
def small_shapes():
    return load_shapes(32, 0.1, seed=3, count=400)


def attribute_rows(data):
    return torch.stack([data.attributes[name] for name in SHAPE_ATTRIBUTES], 1)


def test_every_caption_parses_back_to_the_drawn_attributes():
    _, attributes, captions = build_shapes(600, 32, seed=1)
    templates = set()
    for row, texts in zip(attributes, captions):
        assert len(texts) == 10
        for text in texts:
            parsed = parse_shapes_caption(text)
            assert [parsed[name] for name in SHAPE_ATTRIBUTES] == row.tolist(), text
            templates.add(" ".join(w for w in text.split() if w not in {*COLOURS, "small", "large", "big", "little",
                                                                        "tiny"}))
    assert len(templates) > 100  # several templates and synonyms, not one sentence


def test_caption_attributes_of_a_set(small_shapes):
    asked = caption_attributes("captioned-shapes", [texts[4] for texts in small_shapes.captions[:50]])
    for name in SHAPE_ATTRIBUTES:
        assert torch.equal(asked[name], small_shapes.attributes[name][:50])
    assert caption_attributes("my-folder", ["anything"]) is None
    with pytest.raises(AdvlabError, match="colour"):
        caption_attributes("captioned-digits", ["a seven on the left"])


def test_parser_reads_either_order_and_refuses_nonsense():
    a = parse_shapes_caption("a small red circle above a large blue square")
    b = parse_shapes_caption("A big blue box, below a tiny red disc.")
    assert a == b == {"count": 1, "colour": 0, "shape": 0, "size": 0, "position": 2, "second_colour": 2,
                      "second_shape": 1, "second_size": 1}
    c = parse_shapes_caption("a large green ellipse to the right of a small white triangle")
    assert (c["colour"], c["shape"], c["position"], c["second_colour"]) == (6, 2, 0, 1)
    assert parse_shapes_caption("on the left there is a tiny cyan oval")["position"] == 0
    with pytest.raises(AdvlabError, match="phrases"):
        parse_shapes_caption("a red circle on the left")  # no size word
    with pytest.raises(AdvlabError, match="where"):
        parse_shapes_caption("a small red circle")


def shape_pixels(image, colour):
    """Mask of pixels within the colour jitter (0.05 per channel) of a palette colour."""
    return (np.abs(image - PALETTE[colour]).max(-1) <= 0.051 + 1e-6)


def test_pixels_show_the_attributes():
    images, attributes, _ = build_shapes(400, 32, seed=2)
    side = 32
    fills = {name: [] for name in SHAPES}
    for image, row in zip(images, attributes):
        count, colour, shape, size, position, colour2, _, size2 = row.tolist()
        assert np.isclose(image, 0).all(-1).mean() > 0.3  # a plain black background
        mask = shape_pixels(image, colour)
        assert mask.sum() > 0
        if count == 1:  # two shapes: the first in the top (or left) half, the other in the other half
            if colour2 == colour:
                continue
            first_half = (slice(0, side // 2), slice(None)) if position == 2 else (slice(None), slice(0, side // 2))
            other = shape_pixels(image, colour2)
            assert mask[first_half].sum() == mask.sum() and other[first_half].sum() == 0 and other.sum() > 0
            continue
        rows, cols = np.nonzero(mask)
        extent = max(rows.max() - rows.min(), cols.max() - cols.min()) + 1
        assert (extent <= 0.30 * side + 1) if size == 0 else (extent >= 0.37 * side - 1)
        centre = rows.mean() / side, cols.mean() / side
        expected = {0: (0.5, 0.25), 1: (0.5, 0.75), 2: (0.25, 0.5), 3: (0.75, 0.5)}[position]
        assert abs(centre[0] - expected[0]) < 0.15 and abs(centre[1] - expected[1]) < 0.15
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        fills[SHAPES[shape]].append((len(rows) / box, (rows.max() - rows.min() + 1) / (cols.max() - cols.min() + 1)))
    fill = {name: np.mean([f for f, _ in values]) for name, values in fills.items()}
    assert fill["square"] > 0.95 and 0.65 < fill["circle"] < 0.9 and fill["triangle"] < 0.65
    aspects = [max(a, 1 / a) for _, a in fills["ellipse"]]
    assert np.median(aspects) > 1.6 and np.median([max(a, 1 / a) for _, a in fills["circle"]]) < 1.2


def test_load_captioned_shapes_sizes_tokens_and_determinism(small_shapes):
    data = small_shapes
    assert (len(data), len(data.held_out)) == (360, 40)
    assert data.images.shape == (360, 3, 32, 32) and data.images.dtype == torch.float32
    assert data.tokens.shape == (360, 10, 18) and data.tokens.dtype == torch.int64
    assert 0 <= data.images.min() and data.images.max() <= 1
    for i in (0, 7, 200):
        for k in (0, 9):
            assert data.vocabulary.decode(data.tokens[i, k]) == " ".join(data.captions[i][k].split())
    assert data.held_out.vocabulary is data.vocabulary
    again = load_shapes(32, 0.1, seed=3, count=400)
    assert torch.equal(again.images, data.images) and again.captions == data.captions
    other = load_shapes(32, 0.1, seed=4, count=400)
    assert not torch.equal(other.images, data.images)
    meta = data.checkpoint_meta()
    assert meta["image_shape"] == [3, 32, 32] and meta["caption_length"] == 18
    assert meta["vocabulary"]["words"][0] == "<pad>"
    for size in (16, 64):
        assert load_shapes(size, 0.1, seed=0, count=20).images.shape[-1] == size


def test_sample_right_text_and_wrong_text(small_shapes):
    data = small_shapes
    generator = torch.Generator().manual_seed(0)
    images, tokens, wrong = data.sample(256, generator)
    assert images.shape == (256, 3, 32, 32) and tokens.shape == wrong.shape == (256, 18)
    flat = data.images.reshape(len(data), -1)
    rows = [int(torch.nonzero((flat == image.reshape(-1)).all(1))[0]) for image in images]
    rows_attributes = attribute_rows(data)
    for row, right, mismatched in zip(rows, tokens, wrong):
        assert any(torch.equal(right, candidate) for candidate in data.tokens[row])
        wanted = [parse_shapes_caption(data.vocabulary.decode(mismatched))[n] for n in SHAPE_ATTRIBUTES]
        assert wanted != rows_attributes[row].tolist()
    again = data.sample(256, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(again, (images, tokens, wrong)))
    moved = data.to("cpu")
    assert moved.held_out is not None and torch.equal(moved.classes, data.classes)


def test_sample_draws_every_caption_and_many_rows(small_shapes):
    _, tokens, _ = small_shapes.sample(4000, torch.Generator().manual_seed(1))
    matches = (tokens[:, None, None, :] == small_shapes.tokens[None, :60]).all(-1)  # (n, 60, K)
    drawn_k = matches.any(1).any(0)
    assert drawn_k.sum() >= 9  # captions of every position k are drawn


def test_bad_options():
    with pytest.raises(AdvlabError, match="image_size"):
        load_captioned("captioned-shapes", image_size=8)
    with pytest.raises(AdvlabError, match="held_out_fraction"):
        load_captioned("captioned-shapes", held_out_fraction=0.7)
    with pytest.raises(AdvlabError, match="captions_file"):
        load_captioned("captioned-shapes", captions_file="x.txt")
    with pytest.raises(AdvlabError, match="captioned-shapes"):
        load_captioned("no-such-set-or-folder")
    with pytest.raises(AdvlabError, match="data must name"):
        load_captioned("")


def test_captioned_digits():
    data = load_captioned("captioned-digits")
    assert (len(data), len(data.held_out)) == (9000, 1000)
    assert data.images.shape[1:] == (3, 32, 32)
    from advlab.data.captioned_sets import DIGIT_WORDS
    for i in range(0, 9000, 997):
        digit, colour, position = (int(data.attributes[n][i]) for n in ("digit", "colour", "position"))
        for caption in data.captions[i]:
            words = caption.split()
            assert COLOURS[colour] in words and ("left" if position == 0 else "right") in words
            assert DIGIT_WORDS[digit] in words or str(digit) in words
        asked = caption_attributes("captioned-digits", data.captions[i])
        assert all((asked[name] == data.attributes[name][i]).all() for name in ("digit", "colour", "position"))
        image = data.images[i]
        lit = image.sum(0) > 0.3
        half = lit[:, :16] if position == 0 else lit[:, 16:]
        assert half.sum() >= 0.9 * lit.sum()
        tint = image[:, lit].mean(1)
        assert torch.argmin(((torch.tensor(PALETTE, dtype=torch.float32) / torch.tensor(PALETTE).norm(dim=1,
                            keepdim=True).float()) - tint / tint.norm()).norm(dim=1)) == colour
    # each digit is drawn twice, and the held-out copies come from other MNIST digits than the training copies
    def glyph(image):
        gray = image.amax(0)
        lit = gray / gray.max() > 0.5
        rows, cols = lit.any(1).nonzero().flatten(), lit.any(0).nonzero().flatten()
        crop = lit[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        return crop.numpy().tobytes() + bytes(crop.shape[0])

    counts = {}
    for image in data.images:
        counts[glyph(image)] = counts.get(glyph(image), 0) + 1
    assert sum(counts[glyph(image)] >= 2 for image in data.images[:100]) >= 90
    assert sum(glyph(image) in counts for image in data.held_out.images[:100]) <= 5


# ---------------------------------------------------------------------- the user's files


def write_png(path, colour, size=8):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), colour, dtype=np.uint8)).save(path)


def test_folder_with_captions_counts_what_it_skips(tmp_path, capsys):
    write_png(tmp_path / "a.png", (255, 0, 0))
    write_png(tmp_path / "b.png", (0, 255, 0))
    write_png(tmp_path / "sub" / "c.png", (0, 0, 255))
    write_png(tmp_path / "d.png", (255, 255, 0))
    write_png(tmp_path / "lonely.png", (9, 9, 9))  # no caption
    (tmp_path / "broken.png").write_bytes(b"not a png")
    (tmp_path / "captions.txt").write_text(
        "# my captions\n\na.png\ta red square\na.png\tall red, nothing else\nb.png\ta green square\n"
        "sub/c.png\ta blue square\nd.png\ta yellow square\nmissing.png\ta lost picture\nbroken.png\ta broken one\n")
    data = load_captioned(str(tmp_path), held_out_fraction=0.25, seed=0)
    assert len(data) + len(data.held_out) == 4 and len(data.held_out) == 1
    assert data.skipped == {"captions of missing files": 1, "unreadable images": 1, "images without captions": 1}
    assert "skipped" in capsys.readouterr().err
    everything = data.captions + data.held_out.captions
    assert sorted(map(tuple, everything)) == sorted([("a red square", "all red, nothing else"), ("a green square",),
                                                     ("a blue square",), ("a yellow square",)])
    assert data.tokens.shape[1:] == (2, 4) and data.attributes == {}
    for images, captions, tokens in ((data.images, data.captions, data.tokens),):
        for image, texts, rows in zip(images, captions, tokens):
            if "red" in texts[0]:
                assert image[0].mean() > 0.99 and image[1].mean() < 0.01
            assert data.vocabulary.decode(rows[1]) == " ".join(texts[1 % len(texts)].replace(",", "").split())
    images, tokens, wrong = data.sample(32, torch.Generator().manual_seed(0))
    assert images.shape == (32, 3, 8, 8) and not (tokens == wrong).all(1).any()


def test_folder_errors(tmp_path):
    with pytest.raises(AdvlabError, match="no captions file"):
        load_captioned(str(tmp_path))
    (tmp_path / "captions.txt").write_text("# nothing\n")
    with pytest.raises(AdvlabError, match="holds no captions"):
        load_captioned(str(tmp_path))
    (tmp_path / "captions.txt").write_text("a.png a caption without a tab\n")
    with pytest.raises(AdvlabError, match="line 1"):
        load_captioned(str(tmp_path))
    (tmp_path / "captions.txt").write_text("a.png\ta red one\n")
    write_png(tmp_path / "a.png", (255, 0, 0))
    with pytest.raises(AdvlabError, match="at least 2"):
        load_captioned(str(tmp_path))
    write_png(tmp_path / "b.png", (0, 255, 0), size=12)
    (tmp_path / "captions.txt").write_text("a.png\ta red one\nb.png\ta green one\n")
    with pytest.raises(AdvlabError, match="image_size"):
        load_captioned(str(tmp_path))
    resized = load_captioned(str(tmp_path), image_size=16, held_out_fraction=0)
    assert resized.images.shape == (2, 3, 16, 16) and resized.held_out is None
    other = tmp_path / "elsewhere.tsv"
    other.write_text("a.png\tone\nb.png\ttwo\n")
    assert sorted(load_captioned(str(tmp_path), image_size=8, captions_file=str(other),
                                 held_out_fraction=0).vocabulary.words) == ["<pad>", "one", "two"]
