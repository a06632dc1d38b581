"""raynn.classpath: import paths of the user's classes and functions, their arguments checked by signature."""

from __future__ import annotations

import pytest
import torch
import torchvision

from raynn.classpath import check_spec, class_paths, import_object, instantiate, normalize_specs, object_path, takes
from raynn.errors import ConfigError


def test_import_object_reaches_modules_classes_and_nested_attributes() -> None:
    assert import_object("torchvision.models.resnet18") is torchvision.models.resnet18
    assert import_object("torch.nn.Linear") is torch.nn.Linear
    assert import_object("torch.nn.modules.linear.Linear") is torch.nn.Linear
    with pytest.raises(ValueError, match="No module named 'nopkg_xyz'"):
        import_object("nopkg_xyz.nets.Net")
    with pytest.raises(ValueError, match="module torch.nn has no attribute 'Nope'"):
        import_object("torch.nn.Nope")
    for bad in ("", "Net", "torch..nn", "torch.nn.1x", 3):
        with pytest.raises(ValueError):
            import_object(bad)  # type: ignore[arg-type]


def test_object_path_round_trips_and_refuses_what_other_processes_cannot_import() -> None:
    assert object_path(torch.nn.Linear) == "torch.nn.modules.linear.Linear"
    assert object_path(torchvision.models.resnet18) == "torchvision.models.resnet.resnet18"
    assert object_path("a.b") == "a.b"

    class Local(torch.nn.Module):
        pass

    with pytest.raises(ValueError, match="defined inside a function"):
        object_path(Local)
    Local.__module__, Local.__qualname__ = "__main__", "Local"
    with pytest.raises(ValueError, match=r"in __main__ \(a script or notebook\).*--py-module"):
        object_path(Local)
    with pytest.raises(ValueError, match="class or function itself"):
        object_path(3)


def test_check_spec_names_the_key_rule_and_value() -> None:
    assert check_spec("model", {"class_path": "torch.nn.Linear", "init_args": {"in_features": 3,
                                                                               "out_features": 2}}) is torch.nn.Linear
    cases = [
        ({"class_path": "torch.nn.Linear", "init_args": {"in_features": 3, "out_features": 2, "widht": 1}},
         "model.init_args.widht", "must be an argument of torch.nn.Linear"),
        ({"class_path": "torch.nn.Linear", "init_args": {"in_features": 3}}, "model.init_args.out_features",
         "must be given"),
        ({"class_path": "nopkg_xyz.Net"}, "model.class_path", "No module named 'nopkg_xyz'"),
        ({"class_path": "torch.pi"}, "model.class_path", "float"),
        ({"class_path": "torch.nn.Linear", "typo": 1}, "model.typo", "is not a known key"),
        ({"class_path": "torch.nn.Linear", "init_args": [1]}, "model.init_args", "must be a mapping"),
        ({"init_args": {}}, "model", "must be a mapping {class_path, init_args}"),
    ]
    for spec, key, rule in cases:
        with pytest.raises(ConfigError) as info:
            check_spec("model", spec)
        assert info.value.key == key and rule in str(info.value), (spec, str(info.value))
    # what raynn fills in itself is not required of the user
    check_spec("model", {"class_path": "torch.nn.Linear", "init_args": {"in_features": 3}}, fill=("out_features",))


def test_nested_specs_are_checked_and_built() -> None:
    spec = {"class_path": "torchvision.transforms.v2.Compose", "init_args": {"transforms": [
        {"class_path": "torchvision.transforms.v2.RandomHorizontalFlip", "init_args": {"p": 1.0}}]}}
    check_spec("data.transform", spec)
    flip = instantiate(spec)
    x = torch.arange(6.0).reshape(1, 2, 3)
    assert torch.equal(flip(x), x.flip(-1))
    bad = {"class_path": "torchvision.transforms.v2.Compose", "init_args": {"transforms": [
        {"class_path": "torchvision.transforms.v2.RandomHorizontalFlip", "init_args": {"q": 1.0}}]}}
    with pytest.raises(ConfigError) as info:
        check_spec("data.transform", bad)
    assert info.value.key == "data.transform.init_args.transforms.0.init_args.q"


def test_instantiate_fills_only_what_the_signature_takes_and_the_user_left_out() -> None:
    assert takes(torch.nn.Linear, "out_features") and not takes(torch.nn.Linear, "num_classes")
    assert takes(torchvision.models.resnet18, "num_classes")  # **kwargs
    lin = instantiate({"class_path": "torch.nn.Linear", "init_args": {"in_features": 3, "out_features": 2}},
                      num_classes=7)
    assert lin.out_features == 2
    net = instantiate({"class_path": "torchvision.models.resnet18"}, num_classes=5)
    assert net.fc.out_features == 5
    net = instantiate({"class_path": "torchvision.models.resnet18", "init_args": {"num_classes": 4}}, num_classes=5)
    assert net.fc.out_features == 4


def test_normalize_specs_turns_objects_into_paths_and_class_paths_lists_them() -> None:
    raw = {"model": {"class_path": torchvision.models.resnet18},
           "data": {"transform": [{"class_path": torch.nn.Identity}]}, "loss": None}
    out = normalize_specs(raw)
    assert out["model"]["class_path"] == "torchvision.models.resnet.resnet18"
    assert out["data"]["transform"][0]["class_path"] == "torch.nn.modules.linear.Identity"
    assert raw["model"]["class_path"] is torchvision.models.resnet18  # the input is not changed
    assert class_paths(out) == {"model.class_path": "torchvision.models.resnet.resnet18",
                                "data.transform.0.class_path": "torch.nn.modules.linear.Identity"}


def test_raynn_tune_takes_the_class_itself_and_plans_with_its_import_path(tmp_path) -> None:
    from raynn.hpo.spaces import FloatRange, SearchSpace
    from raynn.tune.options import TuneOptions
    from raynn.tune.run import _plan

    space = SearchSpace({"optimizer.lr": FloatRange(0.01, 0.1, log=True)},
                        base={"model": {"class_path": torchvision.models.resnet18},
                              "data": {"class_path": torchvision.datasets.FakeData, "num_classes": 10,
                                       "init_args": {"size": 20, "image_size": [3, 32, 32]}},
                              "train": {"epochs": 3}})
    plan = _plan(TuneOptions(space, searcher="random", storage=str(tmp_path), name="t"))
    assert plan.space.base["model"]["class_path"] == "torchvision.models.resnet.resnet18"
    assert plan.class_paths == {"model.class_path": "torchvision.models.resnet.resnet18",
                                "data.class_path": "torchvision.datasets.fakedata.FakeData"}
    assert not (tmp_path / "t").exists()  # planned, nothing written
