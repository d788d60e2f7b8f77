"""Model files, inspect() and simulate() against the command line's JSON (the
same library code behind both, checked end to end)."""
import json
import subprocess

import pytest
import sparq


def cli_json(cli, *args):
    return json.loads(subprocess.run([cli, *args, "--json"], check=True, capture_output=True,
                                     text=True).stdout)


def test_save_load_and_bytes_round_trip(fashion_model_path, tmp_path):
    model = sparq.Model.load(fashion_model_path)
    data = model.to_bytes()
    # The shipped file predates the format's checksum; saving writes the
    # current format, which then round-trips byte for byte.
    copy = sparq.Model.from_bytes(data)
    assert copy.to_bytes() == data
    copy.save(tmp_path / "copy.sparq")
    assert (tmp_path / "copy.sparq").read_bytes() == data
    assert str(tmp_path / "copy.sparq") != str(fashion_model_path)
    reloaded = sparq.Model.load(str(tmp_path / "copy.sparq"))  # str or PathLike
    assert reloaded.name == model.name
    assert reloaded.labels == model.labels
    assert reloaded.input == {"name": "image", "shape": [1, 28, 28], "dtype": "f32"}


def test_metadata_matches_sparq_inspect(cli_binary, fashion_model_path):
    model = sparq.Model.load(fashion_model_path)
    expected = cli_json(cli_binary, "inspect", str(fashion_model_path))
    assert model.name == expected["name"]
    assert model.labels == expected["labels"]
    assert model.provenance == expected["provenance"]
    assert model.input == expected["input"]
    assert model.preprocessing == pytest.approx(expected["preprocessing"])
    assert model.inspect() == expected["layers"]


def test_simulate_matches_sparq_simulate(cli_binary, fashion_model_path):
    model = sparq.Model.load(fashion_model_path)
    assert sparq.simulate(model) == cli_json(cli_binary, "simulate", str(fashion_model_path))
    assert sparq.simulate(model, batch=4, point="efficient") == cli_json(
        cli_binary, "simulate", str(fashion_model_path), "--batch", "4", "--point", "efficient")


def test_simulate_takes_a_config_dict_or_file(fashion_model_path, tmp_path):
    model = sparq.Model.load(fashion_model_path)
    default = sparq.simulate(model)
    assert default["config"] == sparq.device_config()
    slow_link = sparq.simulate(model, {"offchip_bytes_per_second": 1e8})
    assert slow_link["config"]["offchip_bytes_per_second"] == 1e8
    assert slow_link["total"]["memory_cycles"] > default["total"]["memory_cycles"]
    config_file = tmp_path / "chip.json"
    config_file.write_text(json.dumps({"array_rows": 16}))
    assert sparq.simulate(model, config_file)["config"]["array_rows"] == 16
    with pytest.raises(sparq.InvalidArgumentError, match="no_such_field"):
        sparq.simulate(model, {"no_such_field": 1})
    with pytest.raises(sparq.IoError):
        sparq.simulate(model, tmp_path / "missing.json")
    with pytest.raises(sparq.InvalidArgumentError, match="got int"):
        sparq.simulate(model, 3)


def test_device_backend_runs_bit_exact_with_reference(fashion_model_path):
    import numpy as np

    model = sparq.Model.load(fashion_model_path)
    x = np.random.default_rng(3).random((3, 1, 28, 28), dtype=np.float32)
    (device,), stats = sparq.Session(model, backends=["device", "cpu"], threads=1).run(x, stats=True)
    (reference,) = sparq.Session(model, backends=["reference"], threads=1).run(x)
    assert device.tobytes() == reference.tobytes()
    assert sum(s["device_cycles"] for s in stats["steps"]) > 0


def test_models_pickle_as_their_saved_bytes(fashion_model_path):
    import pickle

    model = sparq.Model.load(fashion_model_path)
    copy = pickle.loads(pickle.dumps(model))
    assert copy is not model
    assert copy.to_bytes() == model.to_bytes()
