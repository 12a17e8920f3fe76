"""The tensorflow-datasets path, on ``tfds.testing.mock_data`` (random examples in CIFAR-10's features, nothing
downloaded), as the flax examples test theirs: one training step, and the search's scoring pool."""
import numpy as np
import tensorflow_datasets as tfds

import nasi_nal
from nasi_nal.train import apply_overrides, get_recipe, train_and_evaluate
from nasi_nal.datasets import scoring_pool
from train_support import TinyCNN


def test_one_training_step_on_mock_cifar10(tmp_path):
    config = apply_overrides(get_recipe("nb201"), {"space": "", "recipe": "tfds-mock", "data_source": "tfds",
                                                   "epochs": 1, "batch_size": 8, "eval_batch_size": 8,
                                                   "tensorboard": False})
    with tfds.testing.mock_data(num_examples=8):
        summary = train_and_evaluate(config, tmp_path / "run", model=TinyCNN(), quiet=True)
    assert summary["steps"] == 1 and summary["dataset"] == "cifar10"
    assert np.isfinite(summary["final_train_loss"]) and 0.0 <= summary["final_test_acc"] <= 1.0
    assert (tmp_path / "run" / "checkpoints" / "1").is_dir()


def test_search_scoring_pool_from_mock_cifar10():
    with tfds.testing.mock_data(num_examples=24):
        images, labels = scoring_pool("cifar10", limit=16)
        result = nasi_nal.search(space="nb201", method="random", candidates=2, data="cifar10", labels="real")
    assert images.shape == (16, 32, 32, 3) and images.dtype == np.uint8 and labels.shape == (16,)
    assert result.config.data == "cifar10" and len(result.winners) == 2

