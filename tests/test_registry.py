"""The registry: lookup, patterns, aliases, cards, overrides and the errors for each misuse."""

from __future__ import annotations

import dataclasses

import keras
import pytest

import zoo
from zoo.registry import unregister


def test_list_models_sorted_with_shell_patterns_and_aliases():
    names = zoo.list_models()
    assert names == sorted(names) and len(names) >= 15
    assert zoo.list_models("vgg*") == ["vgg13", "vgg13_bn"]
    assert zoo.list_models("res*") == ["resnet18", "resnet20", "resnet34", "resnet56"]
    assert zoo.list_models("imdb_?ru") == ["imdb_gru"]
    assert zoo.list_models("res*", exclude="resnet[23]*") == ["resnet18", "resnet56"]
    assert zoo.list_models("mlp") == ["mnist_mlp"]
    assert zoo.list_models("nothing*") == []
    assert zoo.list_models("RES*") == zoo.list_models("res*")  # case does not matter
    assert "mnist_mlp" not in zoo.list_models(exclude="mlp")  # an alias excluded too
    assert zoo.list_models("MLP") == ["mnist_mlp"]
    for bad in (None, 3):
        with pytest.raises(zoo.ZooError, match="pattern must be a string"):
            zoo.list_models(bad)
    with pytest.raises(zoo.ZooError, match="exclude must be a pattern"):
        zoo.list_models("*", exclude=None)


def test_aliases_resolve_everywhere():
    assert zoo.card("mlp") == zoo.card("mnist_mlp")
    assert zoo.get("mlp", compile=False).name == "mnist_mlp"


def test_unknown_name_suggests_close_matches():
    with pytest.raises(zoo.ZooError, match=r"did you mean 'vgg13'"):
        zoo.get("vgg31")
    with pytest.raises(zoo.ZooError, match=r"unknown model 'resnet19'.*'resnet18'"):
        zoo.card("resnet19")
    with pytest.raises(zoo.ZooError, match="must be a string"):
        zoo.card(13)
    with pytest.raises(zoo.ZooError, match=r"did you mean 'mnist_mlp'\?\); model names are "
                                           "case-sensitive"):
        zoo.get("MNIST_MLP")


def test_card_is_frozen_and_describes_the_model():
    card = zoo.card("vgg13")
    with pytest.raises(dataclasses.FrozenInstanceError):
        card.params = 1
    assert card.task == "classification" and card.dataset == "cifar100"
    assert card.input_shape == (32, 32, 3) and card.output_shape == (100,)
    assert card.recipe.optimizer == "sgd" and card.recipe.epochs > 0
    assert card.reference.metrics["accuracy"] == pytest.approx(0.72)
    assert card.measured is None or card.measured.metrics


def test_get_compiles_each_task_with_its_loss_and_metrics():
    model = zoo.get("resnet20")
    assert model.compiled and not zoo.get("resnet20", compile=False).compiled
    assert isinstance(model.loss, zoo.recipe.SparseSmoothedCrossentropy)  # logits in
    assert model.loss.label_smoothing == zoo.card("resnet20").recipe.label_smoothing > 0
    plain = zoo.get("mnist_mlp").loss
    assert isinstance(plain, keras.losses.SparseCategoricalCrossentropy) and plain.get_config()["from_logits"]
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert float(model.optimizer.learning_rate) == pytest.approx(zoo.card("resnet20").recipe.learning_rate)
    logs = model.evaluate(keras.ops.zeros((2, 32, 32, 3)), keras.ops.zeros((2,), dtype="int32"),
                          verbose=0, return_dict=True)
    assert set(logs) == {"loss", "accuracy", "top5_accuracy"}
    topk = [m for m in model._compile_metrics.metrics if m.name == "top5_accuracy"]
    assert isinstance(topk[0], keras.metrics.SparseTopKCategoricalAccuracy) and topk[0]._fn_kwargs["k"] == 5

    lstm = zoo.get("imdb_lstm", vocab_size=50, sequence_length=10)
    logs = lstm.evaluate(keras.ops.ones((2, 10), dtype="int32"), keras.ops.ones((2, 1)),
                         verbose=0, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    assert isinstance(lstm.loss, keras.losses.BinaryCrossentropy)


def test_get_follows_the_cards_schedule_given_the_steps_per_epoch():
    """Without the steps, `get` can only run the recipe's peak rate throughout."""
    recipe = zoo.card("resnet20").recipe  # one-cycle over the recipe's epochs
    schedule = zoo.get("resnet20", steps_per_epoch=10).optimizer._learning_rate
    assert isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule)
    total = recipe.epochs * 10
    rates = [float(schedule(step)) for step in (0, int(0.3 * total), total - 1)]
    assert rates[0] < recipe.learning_rate / 10 and rates[2] < recipe.learning_rate / 100
    assert rates[1] == pytest.approx(recipe.learning_rate, rel=0.01)
    assert float(zoo.get("mnist_mlp", steps_per_epoch=422).optimizer.learning_rate) == \
        pytest.approx(zoo.card("mnist_mlp").recipe.learning_rate)  # cosine starts at its peak
    with pytest.raises(zoo.ZooError, match="does nothing with compile=False"):
        zoo.get("resnet20", compile=False, steps_per_epoch=10)
    with pytest.raises(zoo.ZooError, match="steps_per_epoch must be >= 1"):
        zoo.get("resnet20", steps_per_epoch=0)


def test_overrides_change_the_model():
    model = zoo.get("resnet18", num_classes=10, compile=False)
    assert model.output_shape == (None, 10)
    assert zoo.get("imdb_lstm", cell="gru", compile=False).get_layer("gru1") is not None
    assert zoo.get("autoencoder", latent_dim=8, compile=False).get_layer("code").units == 8
    assert set(zoo.options("vgg13")) == {"num_classes", "input_shape", "head", "dropout"}


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        ("vgg13", {"num_clases": 10}, r"unknown option\(s\) 'num_clases'.*valid: num_classes="),
        ("vgg13", {"num_classes": 0}, r"num_classes must be between 2 and 1048576, got 0"),
        ("vgg13", {"num_classes": 2.5}, r"num_classes must be an integer"),
        ("vgg13", {"dropout": 1.5}, r"dropout must be a finite number in \[0, 1\)"),
        ("vgg13", {"input_shape": (16, 16, 3)}, r"at least 32x32"),
        ("mnist_mlp", {"input_shape": (28, 28)}, r"input_shape must have 3 dimensions"),
        ("mnist_mlp", {"hidden": ()}, r"hidden must not be empty"),
        ("imdb_lstm", {"cell": "lstn"}, r"unknown cell 'lstn' \(did you mean 'lstm'\?\)"),
        ("resnet20", {"widths": (16, 32)}, r"one value per stage"),
        ("dcgan", {"image_shape": (30, 30, 1)}, r"multiples of 4"),
        ("vae", {"latent_dim": -1}, r"latent_dim must be between 1 and 1048576"),
        ("conv_autoencoder", {"filters": (32, 64, 128)}, r"multiples of 8, got \(28, 28, 1\)"),
        ("vae", {"filters": (8, 16, 32)}, r"multiples of 8"),
        ("vae", {"seed": -1}, r"seed must be between 0 and"),
        ("dcgan", {"seed": 1.5}, r"seed must be an integer"),
        ("resnet20", {"input_shape": (32, 32, 1)}, r"has 1 channel\(s\); this model "
                                                   r"standardises 3"),
        ("vgg13", {"input_shape": (32, 32, 4)}, r"give input_shape 3 channels"),
    ],
)
def test_bad_overrides_raise_clear_errors(name, overrides, message):
    with pytest.raises(zoo.ZooError, match=message):
        zoo.get(name, **overrides)


def test_duplicate_registration_is_an_error():
    card = dataclasses.replace(zoo.card("mnist_mlp"), aliases=())
    with pytest.raises(zoo.ZooError, match="already registered"):
        zoo.register(card)(lambda: None)
    with pytest.raises(zoo.ZooError, match="'mlp' is already registered"):
        zoo.register(dataclasses.replace(card, name="new_mlp", aliases=("mlp",)))(lambda: None)
    assert "new_mlp" not in zoo.list_models()


def test_register_a_new_model_then_get_it():
    card = dataclasses.replace(zoo.card("mnist_mlp"), name="tiny_mlp", aliases=(), params=7850)

    @zoo.register(card)
    def tiny_mlp(num_classes: int = 10) -> keras.Model:
        return zoo.models.mlp.mlp("tiny_mlp", (28, 28, 1), (10,), num_classes, 0.0)

    try:
        assert "tiny_mlp" in zoo.list_models("tiny*")
        assert zoo.get("tiny_mlp", num_classes=3).output_shape == (None, 3)
        with pytest.raises(zoo.ZooError, match="needs a default"):
            zoo.register(dataclasses.replace(card, name="x"))(lambda width: None)
        with pytest.raises(zoo.ZooError, match=r"takes \*options: its options must be named"):
            zoo.register(dataclasses.replace(card, name="x"))(lambda **options: None)
        with pytest.raises(zoo.ZooError, match="register takes the model's Card"):
            zoo.register("x")
        with pytest.raises(zoo.ZooError, match="a function that builds the model"):
            zoo.register(dataclasses.replace(card, name="x"))("not a function")
        with pytest.raises(zoo.ZooError, match=r"aliases must be a tuple of names.*\(write "
                                               r"\('tinymlp',\)\)"):
            dataclasses.replace(card, name="x", aliases=("tinymlp"))
        for bad in (None, 5):
            with pytest.raises(zoo.ZooError, match="aliases must be a tuple of names"):
                dataclasses.replace(card, name="x", aliases=bad)
        assert dataclasses.replace(card, name="x", aliases=["y"]).aliases == ("y",)
        with pytest.raises(zoo.ZooError, match="name must be a non-empty string, got 5"):
            dataclasses.replace(card, name=5)
        zoo.register(dataclasses.replace(card, name="returns_none"))(lambda: None)
        with pytest.raises(zoo.ZooError, match=r"returned NoneType, not a keras\.Model"):
            zoo.get("returns_none")
        assert "x" not in zoo.list_models()
    finally:
        for name in ("tiny_mlp", "returns_none"):
            if name in zoo.list_models():
                unregister(name)
    assert "tiny_mlp" not in zoo.list_models()
