"""Typed configs: unknown and ill-typed keys are errors that name the valid choices."""

import pytest

from advlab import AdvlabError
from advlab.core.config import dump_yaml, from_mapping, load_yaml
from advlab.pipelines.gan.gan_config import GANTrainConfig


def test_defaults_and_types():
    config = from_mapping(GANTrainConfig, {"steps": 10, "lr_g": 1, "data": "digits"})
    assert config.steps == 10 and config.lr_g == 1.0 and isinstance(config.lr_g, float)


def test_unknown_key_names_valid_keys():
    with pytest.raises(AdvlabError) as error:
        from_mapping(GANTrainConfig, {"stepz": 10})
    assert "'stepz'" in str(error.value) and "steps" in str(error.value) and "loss" in str(error.value)


@pytest.mark.parametrize("key,value", [("steps", "many"), ("steps", 1.5), ("lr_d", "fast"),
                                       ("tensorboard", "yes"), ("optimizer", "rmsprop"), ("steps", True)])
def test_ill_typed_value(key, value):
    with pytest.raises(AdvlabError, match=key):
        from_mapping(GANTrainConfig, {key: value})


@pytest.mark.parametrize("key,value", [("steps", -5), ("steps", 0), ("k", 0), ("batch_size", -1),
                                       ("lr_g", 0.0), ("beta1", 1.0), ("ema", 1.5), ("depth", -1)])
def test_out_of_range(key, value):
    with pytest.raises(AdvlabError, match=key):
        from_mapping(GANTrainConfig, {key: value})


def test_unknown_model_lists_models():
    with pytest.raises(AdvlabError, match="valid models are: auto, mlp, dcgan"):
        from_mapping(GANTrainConfig, {"model": "biggan"})


def test_model_must_fit_data():
    config = from_mapping(GANTrainConfig, {"model": "dcgan"})
    with pytest.raises(AdvlabError, match="does not fit"):
        config.resolved("points")


def test_resolved_fills_preset_and_keeps_explicit_values():
    config = from_mapping(GANTrainConfig, {"lr_g": 0.5}).resolved("points")
    assert config.model == "mlp" and config.lr_g == 0.5 and config.lr_d == 1e-3 and config.batch_size == 256
    assert from_mapping(GANTrainConfig, {}).resolved("images").model == "dcgan"


def test_yaml_round_trip(tmp_path):
    config = from_mapping(GANTrainConfig, {"steps": 7, "data": "grid25", "lr_g": 1e-4})
    dump_yaml(config, tmp_path / "c.yaml")
    assert from_mapping(GANTrainConfig, load_yaml(tmp_path / "c.yaml")) == config


def test_bad_yaml_and_missing_file(tmp_path):
    (tmp_path / "bad.yaml").write_text("steps: [1, 2\n")
    with pytest.raises(AdvlabError, match="not valid YAML"):
        load_yaml(tmp_path / "bad.yaml")
    with pytest.raises(AdvlabError, match="cannot read config"):
        load_yaml(tmp_path / "none.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(AdvlabError, match="expected a mapping"):
        from_mapping(GANTrainConfig, load_yaml(tmp_path / "list.yaml"))
