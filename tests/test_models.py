"""Model builders: output shapes, where the regularizing layers go, and argument checks."""

import pytest
import torch
from torch import nn

from reglab.models import MODEL_BUILDERS, ModelSpec, cnn, linear_model, mlp
from reglab.regularizers.dropout import DropConnectLinear, Dropout, GaussianDropout, SpatialDropout

NOISE = (Dropout, GaussianDropout, SpatialDropout, nn.Dropout)


def layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if not list(m.children())]


def test_registry_names_every_builder():
    assert {"linear": linear_model, "mlp": mlp, "cnn": cnn} == MODEL_BUILDERS


@pytest.mark.parametrize(
    "build, x",
    [
        (lambda: linear_model(8, 3), torch.randn(5, 8)),
        (lambda: linear_model(12, 1), torch.randn(5, 3, 2, 2)),
        (lambda: mlp(8, 3, hidden=(16, 4), dropout=0.5, batchnorm=True, input_dropout=0.2), torch.randn(5, 8)),
        (lambda: mlp(3 * 4 * 4, 10, dropout=(0.2,), dropout_kind="gaussian"), torch.randn(5, 3, 4, 4)),
        (lambda: cnn((2, 30), 4, dropout=0.5, spatial_dropout=0.2, batchnorm=True), torch.randn(5, 2, 30)),
        (lambda: cnn((1, 28, 28), 10, channels=(4, 8, 8)), torch.randn(5, 1, 28, 28)),
        (lambda: cnn((3, 9, 13), 2, kernel_size=4), torch.randn(5, 3, 9, 13)),
        (lambda: cnn((1, 7), 2, channels=(3,), kernel_size=5), torch.randn(5, 1, 7)),
    ],
)
def test_output_shapes(build, x):
    model = build()
    n_outputs = [m for m in layers(model) if isinstance(m, nn.Linear)][-1].out_features
    assert model(x).shape == (5, n_outputs)
    assert model.eval()(x).shape == (5, n_outputs)


@pytest.mark.parametrize(
    "model",
    [
        mlp(8, 3, hidden=(16, 16), dropout=0.5, input_dropout=0.2),
        mlp(8, 3, hidden=(16,), dropout=0.5, dropout_kind="gaussian", batchnorm=True),
        cnn((1, 8, 8), 3, dropout=0.5, spatial_dropout=0.3),
    ],
)
def test_dropout_follows_activations_and_never_the_output_layer(model):
    modules = layers(model)
    assert type(modules[-1]) is nn.Linear
    for before, layer in zip(modules, modules[1:]):
        if isinstance(layer, NOISE) and not isinstance(before, nn.Flatten):
            assert isinstance(before, (nn.ReLU, nn.Tanh, nn.GELU)), model


def test_per_layer_dropout_probabilities_in_order():
    model = mlp(8, 2, hidden=(16, 8, 4), dropout=(0.1, 0.0, 0.3), activation="tanh")
    assert [m.p for m in layers(model) if isinstance(m, Dropout)] == [0.1, 0.3]
    assert sum(isinstance(m, nn.Tanh) for m in layers(model)) == 3


def test_no_dropout_builds_the_plain_network():
    kinds = [type(m) for m in layers(mlp(8, 2, hidden=(16, 4)))]
    assert kinds == [nn.Flatten, nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]


def test_dropconnect_swaps_hidden_layers_only():
    model = mlp(8, 2, hidden=(16, 4), dropout=0.5, dropout_kind="dropconnect")
    linears = [m for m in layers(model) if isinstance(m, nn.Linear)]
    assert [type(m) for m in linears] == [DropConnectLinear, DropConnectLinear, nn.Linear]
    assert [m.p for m in linears[:2]] == [0.5, 0.5]
    assert not any(isinstance(m, NOISE) for m in layers(model))


@pytest.mark.parametrize(
    "model",
    [
        mlp(8, 2, hidden=(16, 4), batchnorm=True),
        mlp(8, 2, hidden=(16,), batchnorm=True, dropout=0.3, dropout_kind="dropconnect"),
        cnn((1, 8, 8), 3, batchnorm=True),
    ],
)
def test_the_layer_before_batch_norm_has_no_bias(model):
    """Batch norm subtracts the batch mean: a bias before it would only carry rounding noise."""
    kinds = list(layers(model))
    before = [kinds[i - 1] for i, m in enumerate(kinds) if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    assert before and all(m.bias is None for m in before)
    assert kinds[-1].bias is not None  # the output layer keeps its bias


def test_batchnorm_sits_between_layer_and_activation():
    kinds = [type(m) for m in layers(mlp(8, 2, hidden=(16,), batchnorm=True, dropout=0.5))]
    assert kinds == [nn.Flatten, nn.Linear, nn.BatchNorm1d, nn.ReLU, Dropout, nn.Linear]


def test_cnn_uses_conv1d_for_signals_and_conv2d_for_images():
    assert any(isinstance(m, nn.Conv1d) for m in cnn((2, 16), 3).modules())
    assert any(isinstance(m, nn.Conv2d) for m in cnn((2, 16, 16), 3).modules())


@pytest.mark.parametrize("bad", [1.0, -0.1, float("nan")])
@pytest.mark.parametrize(
    "build, name",
    [
        (lambda p: mlp(8, 2, dropout=p), "dropout"),
        (lambda p: mlp(8, 2, hidden=(4, 4), dropout=(0.1, p)), r"dropout\[1\]"),
        (lambda p: mlp(8, 2, input_dropout=p), "input_dropout"),
        (lambda p: cnn((1, 8), 2, dropout=p), "dropout"),
        (lambda p: cnn((1, 8), 2, spatial_dropout=p), "spatial_dropout"),
    ],
)
def test_bad_probabilities_name_the_argument(build, name, bad):
    with pytest.raises(ValueError, match=f"argument {name}"):
        build(bad)


@pytest.mark.parametrize(
    "build, name",
    [
        (lambda: mlp(8, 2, activation="sigmoid"), "activation"),
        (lambda: mlp(8, 2, dropout_kind="zoneout"), "dropout_kind"),
        (lambda: mlp(8, 2, hidden=(16, 4), dropout=(0.1,)), "dropout"),
        (lambda: mlp(8, 2, hidden=(0,)), "hidden"),
        (lambda: linear_model(0, 2), "n_features"),
        (lambda: cnn((8,), 2), "input_shape"),
        (lambda: cnn((1, 3), 2, channels=(4, 4)), "input_shape"),
        (lambda: ModelSpec(kind="transformer"), "kind"),
        (lambda: ModelSpec(activation="swish"), "activation"),
        (lambda: ModelSpec(kind="cnn", hidden=(64, 32)), "hidden"),
        (lambda: ModelSpec(kind="linear").build((8,), 2, dropout=0.5), "dropout"),
        (lambda: ModelSpec().build((8,), 2, spatial_dropout=0.5), "spatial_dropout"),
        (lambda: ModelSpec(kind="cnn").build((1, 8), 2, dropout_kind="gaussian"), "dropout_kind"),
        (lambda: ModelSpec(kind="cnn").build((8,), 2), "input_shape"),
    ],
)
def test_bad_arguments_name_the_argument(build, name):
    with pytest.raises(ValueError, match=f"argument {name}"):
        build()


def test_spec_round_trips_through_a_dict_and_rejects_unknown_keys():
    spec = ModelSpec(kind="cnn", hidden=(32,), activation="gelu", channels=(4, 8))
    data = spec.to_dict()
    assert data == {"kind": "cnn", "hidden": [32], "activation": "gelu", "channels": [4, 8]}
    assert ModelSpec.from_dict(data) == spec
    with pytest.raises(ValueError, match="depth"):
        ModelSpec.from_dict({**data, "depth": 3})


@pytest.mark.parametrize(
    "spec, shape",
    [
        (ModelSpec(kind="linear"), (3, 4)),
        (ModelSpec(hidden=(8, 8)), (6,)),
        (ModelSpec(kind="cnn", hidden=(8,)), (1, 6, 6)),
    ],
)
def test_spec_builds_working_models(spec, shape):
    model = spec.build(shape, 3)
    assert model(torch.randn(2, *shape)).shape == (2, 3)


def test_spec_passes_regularizing_layers_to_the_builder():
    model = ModelSpec(hidden=(8, 8), activation="tanh").build(
        (6,), 2, dropout=0.3, dropout_kind="gaussian", batchnorm=True
    )
    kinds = [type(m) for m in layers(model)]
    assert kinds.count(GaussianDropout) == 2 and kinds.count(nn.BatchNorm1d) == 2 and kinds.count(nn.Tanh) == 2
    cnn_model = ModelSpec(kind="cnn", channels=(4,)).build((1, 8, 8), 2, dropout=0.5, spatial_dropout=0.2)
    assert [type(m) for m in layers(cnn_model)].count(SpatialDropout) == 1
