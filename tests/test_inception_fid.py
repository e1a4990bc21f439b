"""The FID Inception-v3 (advlab.models.inception_fid): architecture, weights loading, embedding.

Agreement with pytorch-fid's own network (torchvision + pytorch_fid's FID blocks) is checked by
bench/inception_vs_pytorch_fid.py in the peers venv; these tests need neither package.
"""

import argparse
import pickle

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from advlab.core.errors import AdvlabError
from advlab.models.inception_fid import FIDInceptionV3, load_fid_inception, prepare_inputs

# sum(p.numel() for p in model.parameters()) of pytorch-fid's FID network, built in the peers venv as
# pytorch_fid.inception.fid_inception_v3 builds it (torchvision inception_v3(weights=None, num_classes=1008,
# aux_logits=False, init_weights=False) with Mixed_5b..7c replaced by FIDInceptionA/C/E_1/E_2), without weights.
FID_PARAMETERS = 23_850_960
# len(model.state_dict()) of that network: 472 weights and statistics + 94 BatchNorm num_batches_tracked.
FID_STATE_KEYS = 566
BATCHNORMS = 94


def random_state(model: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """He-scaled conv/fc weights and BatchNorm affine parameters and running statistics far from
    their defaults, so that a mix-up of any of them changes the output."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, value in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(seed, dtype=torch.long)
        elif name.endswith(("running_var", "bn.weight")):
            state[name] = 0.5 + torch.rand(value.shape, generator=generator)
        elif name.endswith(("running_mean", "bias")):
            state[name] = 0.1 * torch.randn(value.shape, generator=generator)
        else:
            fan_in = value[0].numel()
            state[name] = torch.randn(value.shape, generator=generator) * (2.0 / fan_in) ** 0.5
    return state


@pytest.fixture(scope="module")
def random_model():
    model = FIDInceptionV3()
    model.load_state_dict(random_state(model, seed=3))
    return model


@pytest.fixture(scope="module")
def small_input():
    """Two network inputs in [-1, 1] at 75x75, the smallest size the network takes (cheap to run)."""
    return torch.rand(2, 3, 75, 75, generator=torch.Generator().manual_seed(0)) * 2 - 1


def outputs(model: FIDInceptionV3, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        features = model.pool3(x)
        return features, model.fc(features)


def test_state_dict_keys_and_shapes_match_the_fid_weights_layout():
    with torch.device("meta"):
        model = FIDInceptionV3()
    shapes = {name: tuple(value.shape) for name, value in model.state_dict().items()}
    assert len(shapes) == FID_STATE_KEYS
    assert sum(name.endswith("num_batches_tracked") for name in shapes) == BATCHNORMS
    assert sum(p.numel() for p in model.parameters()) == FID_PARAMETERS
    assert not any(name.startswith("AuxLogits") for name in shapes)
    assert not any(name.endswith("conv.bias") for name in shapes)
    expected = {
        "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
        "Conv2d_1a_3x3.bn.weight": (32,),
        "Conv2d_1a_3x3.bn.bias": (32,),
        "Conv2d_1a_3x3.bn.running_mean": (32,),
        "Conv2d_1a_3x3.bn.running_var": (32,),
        "Conv2d_4a_3x3.conv.weight": (192, 80, 3, 3),
        "Mixed_5b.branch5x5_2.conv.weight": (64, 48, 5, 5),
        "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
        "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
        "Mixed_6b.branch7x7_2.conv.weight": (128, 128, 1, 7),
        "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
        "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
        "Mixed_7c.branch1x1.conv.weight": (320, 2048, 1, 1),
        "Mixed_7c.branch3x3_2a.conv.weight": (384, 384, 1, 3),
        "Mixed_7c.branch3x3_2b.conv.weight": (384, 384, 3, 1),
        "Mixed_7c.branch3x3dbl_1.conv.weight": (448, 2048, 1, 1),
        "Mixed_7c.branch3x3dbl_2.conv.weight": (384, 448, 3, 3),
        "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
        "Mixed_7c.branch_pool.bn.running_var": (192,),
        "fc.weight": (1008, 2048),
        "fc.bias": (1008,),
    }
    assert {name: shapes[name] for name in expected} == expected
    assert all(m.eps == 0.001 for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))


@pytest.mark.parametrize("block, pooled_channels, pool", [
    ("Mixed_5b", 32, "avg"), ("Mixed_6c", 192, "avg"), ("Mixed_7b", 192, "avg"), ("Mixed_7c", 192, "max")])
def test_fid_blocks_pool_like_tensorflow(random_model, block, pooled_channels, pool):
    """The pool branch: averages over real pixels only (count_include_pad=False); a max in Mixed_7c."""
    module = getattr(random_model, block)
    channels = module.branch_pool.conv.in_channels
    x = torch.randn(1, channels, 4, 4, generator=torch.Generator().manual_seed(1)).abs()
    tensorflow = F.max_pool2d(x, 3, 1, 1) if pool == "max" else F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    torchvision = F.avg_pool2d(x, 3, 1, 1)  # what the later Inception-v3 does (count_include_pad=True)
    with torch.no_grad():
        got = module(x)[:, -pooled_channels:]
        want, other = module.branch_pool(tensorflow), module.branch_pool(torchvision)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert (got - other).abs().max() > 1e-3


@pytest.mark.parametrize("fmt", ["zip", "legacy", "safetensors"])
def test_a_saved_state_dict_loads_back_identically(random_model, small_input, tmp_path, fmt):
    state = random_model.state_dict()
    path = tmp_path / ("weights.safetensors" if fmt == "safetensors" else "weights.pth")
    if fmt == "safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path, _use_new_zipfile_serialization=fmt == "zip")
    loaded = load_fid_inception(path)
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    loaded_state = loaded.state_dict()
    assert all(torch.equal(loaded_state[k], v) for k, v in state.items())
    for ours, theirs in zip(outputs(loaded, small_input), outputs(random_model, small_input)):
        assert torch.equal(ours, theirs)


def test_the_file_decides_the_output_and_counters_are_optional(random_model, small_input, tmp_path):
    """A changed BN statistic changes the features (the loader really loads it); a file without
    BatchNorm's num_batches_tracked counters (unused in eval) loads, with the counters at 0."""
    state = {k: v for k, v in random_model.state_dict().items() if not k.endswith("num_batches_tracked")}
    state["Mixed_7c.branch_pool.bn.running_mean"] = state["Mixed_7c.branch_pool.bn.running_mean"] + 1.0
    torch.save(state, tmp_path / "w.pth")
    loaded = load_fid_inception(tmp_path / "w.pth")
    loaded_state = loaded.state_dict()
    assert all(torch.equal(loaded_state[k], v) for k, v in state.items())
    assert loaded_state["Mixed_7c.branch_pool.bn.num_batches_tracked"] == 0
    assert (outputs(loaded, small_input)[0] - outputs(random_model, small_input)[0]).abs().max() > 1e-3


def check_error(path, *words):
    with pytest.raises(AdvlabError) as caught:
        load_fid_inception(path)
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_a_missing_file_is_one_line(tmp_path):
    check_error(tmp_path / "pt_inception.pth", "does not exist", "pt_inception.pth", "downloads nothing")
    check_error(tmp_path, "is not a file")


def test_a_text_file_is_not_weights(tmp_path):
    (tmp_path / "w.pth").write_text("these are not the weights you are looking for\n")
    check_error(tmp_path / "w.pth", "not a weights file")
    (tmp_path / "w.safetensors").write_text("nor these\n")
    check_error(tmp_path / "w.safetensors", "not a safetensors file")


def test_an_arbitrary_pickle_is_refused(tmp_path):
    path = tmp_path / "w.pth"
    torch.save(argparse.Namespace(weights="evil"), path)
    assert isinstance(torch.load(path, weights_only=False), argparse.Namespace)  # unpickling would work
    check_error(path, "not a weights file", "weights_only=True")
    (tmp_path / "raw.pth").write_bytes(pickle.dumps({"fc.weight": argparse.Namespace()}))
    check_error(tmp_path / "raw.pth", "not a weights file")


def test_non_tensor_contents_are_refused(tmp_path):
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    check_error(tmp_path / "list.pth", "not a weights file", "list")
    torch.save({"fc.weight": 1.0}, tmp_path / "dict.pth")
    check_error(tmp_path / "dict.pth", "not a weights file", "not named tensors")


def cheap_state() -> dict[str, torch.Tensor]:
    """Every key with its right shape, each tensor a broadcast zero (a tiny file)."""
    with torch.device("meta"):
        model = FIDInceptionV3()
    return {k: torch.zeros((), dtype=v.dtype).expand(v.shape) for k, v in model.state_dict().items()}


def test_a_state_dict_that_does_not_fit_names_the_keys(tmp_path):
    state = cheap_state()
    torch.save(state, tmp_path / "w.pth")
    assert (tmp_path / "w.pth").stat().st_size < 1e6
    load_fid_inception(tmp_path / "w.pth")  # the right keys and shapes load
    del state["Mixed_6b.branch7x7_2.conv.weight"]
    state["AuxLogits.fc.weight"] = torch.zeros(1008, 768)
    torch.save(state, tmp_path / "w.pth")
    check_error(tmp_path / "w.pth", "does not fit", "1 key missing (Mixed_6b.branch7x7_2.conv.weight)",
                "1 unexpected (AuxLogits.fc.weight)")
    for name in list(state)[:5]:
        del state[name]
    torch.save(state, tmp_path / "w.pth")
    check_error(tmp_path / "w.pth", "6 keys missing (Conv2d_1a_3x3.conv.weight, Conv2d_1a_3x3.bn.weight, "
                "Conv2d_1a_3x3.bn.bias, ...)")
    state = cheap_state()
    state["fc.weight"] = torch.zeros(1000, 2048)
    torch.save(state, tmp_path / "w.pth")
    check_error(tmp_path / "w.pth", "1 tensor of the wrong shape", "fc.weight (1000, 2048) instead of (1008, 2048)")


def test_prepare_inputs_resizes_like_pytorch_fid_then_scales():
    small = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    resized = F.interpolate(small, size=(299, 299), mode="bilinear", align_corners=False)
    assert torch.equal(prepare_inputs(small), 2 * resized - 1)
    full = torch.rand(1, 3, 299, 299, generator=torch.Generator().manual_seed(2))
    assert torch.equal(prepare_inputs(full), 2 * full - 1)
    assert torch.equal(F.interpolate(full, size=(299, 299), mode="bilinear", align_corners=False), full)
    assert prepare_inputs(torch.zeros(1, 3, 30, 40)).shape == (1, 3, 299, 299)


@pytest.mark.parametrize("size, count", [(8, 2), (299, 1)])
def test_embed_shapes_and_values(random_model, size, count):
    images = torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(size))
    features, logits = random_model.embed(images)
    assert features.shape == (count, 2048) and logits.shape == (count, 1008)
    assert features.isfinite().all() and logits.isfinite().all()
    assert (features >= 0).all() and features.std() > 0  # means of ReLU outputs, not constant
    assert not features.requires_grad and not logits.requires_grad
    torch.testing.assert_close(logits, features @ random_model.fc.weight.T)  # IS logits: no bias (Salimans)
    assert not torch.allclose(logits, random_model.fc(features))


def test_parameters_are_frozen_but_images_get_gradients(random_model):
    assert not any(p.requires_grad for p in random_model.parameters())
    x = torch.zeros(1, 3, 75, 75, requires_grad=True)
    random_model.pool3(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_eval_mode_survives_train(random_model, small_input):
    before = outputs(random_model, small_input)[0]
    assert random_model.train() is random_model
    assert not any(module.training for module in random_model.modules())
    assert torch.equal(outputs(random_model, small_input)[0], before)  # batch statistics would change it


@pytest.mark.parametrize("images, words", [
    (torch.zeros(2, 1, 8, 8), ["(2, 1, 8, 8)", "grayscale"]),
    (torch.zeros(3, 8, 8), ["(3, 8, 8)"]),
    (torch.zeros(0, 3, 8, 8), ["N >= 1"]),
    (torch.zeros(1, 3, 8, 8, dtype=torch.uint8), ["float tensor", "torch.uint8"]),
])
def test_embed_refuses_bad_images(random_model, images, words):
    with pytest.raises(AdvlabError) as caught:
        random_model.embed(images)
    for word in words:
        assert word in str(caught.value)
