from __future__ import annotations

import pytest

from pixelperfecter_ml.config import ConfigError, TrainConfig, load_config

from .conftest import TINY


def test_yaml_beats_defaults_and_set_beats_yaml(tmp_path):
    defaults = TrainConfig()
    cfg = load_config(TINY)
    assert cfg.batch_size == 4 != defaults.batch_size
    assert cfg.lr == defaults.lr  # not in the YAML -> default
    cfg = load_config(TINY, ["batch_size=8", "lr=1e-4", "device=cpu", "amp=false"])
    assert (cfg.batch_size, cfg.lr, cfg.device, cfg.amp) == (8, 1e-4, "cpu", False)


def test_unknown_keys_are_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown config key 'bogus'"):
        load_config(TINY, ["bogus=1"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("lr: 0.1\nlearning_rate: 0.2\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown config key 'learning_rate'"):
        load_config(bad)
    with pytest.raises(ConfigError, match="batch_size must be int"):
        load_config(TINY, ["batch_size=many"])
    with pytest.raises(ConfigError, match="device must be"):
        load_config(TINY, ["device=tpu"])


def test_cli_unknown_key_exits_2_with_one_line(tmp_path):
    from typer.testing import CliRunner

    from pixelperfecter_ml.cli import ml_app

    result = CliRunner().invoke(ml_app, ["train", "--config", str(TINY), "--set", "nope=3"])
    assert result.exit_code == 2
    text = result.output.strip()
    assert "unknown config key 'nope'" in text and len(text.splitlines()) == 1
