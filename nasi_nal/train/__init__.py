"""The Flax trainer and its recipes: ``train_and_evaluate(config, workdir) -> summary``.

Example:
    >>> from nasi_nal import train
    >>> cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    >>> cfg = train.apply_overrides(train.get_recipe("nb201_12ep"),
    ...                             [f"cell={cell}", "data_source=npz", "data_dir=cifar10.npz"])
    >>> summary = train.train_and_evaluate(cfg, "runs/nb201")  # doctest: +SKIP
"""
from nasi_nal.train.recipes import RECIPES, TrainConfig, apply_overrides, get_recipe
from nasi_nal.train.train import TrainState, build_model, train_and_evaluate

__all__ = ["RECIPES", "TrainConfig", "TrainState", "apply_overrides", "build_model", "get_recipe",
           "train_and_evaluate"]
