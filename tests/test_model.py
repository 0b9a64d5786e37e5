"""Chapter 5: the sinusoidal embedding (5.1), the conditioned layer (5.2) and the MLP."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ddpm_lessons.model import (ConditionedLayer, FourierFeatures, SinusoidalEmbedding, TimeConditionedMLP,
                                describe, parameter_count, sinusoidal_embedding_matrix)


def embedding_by_hand(T: int, dim: int) -> np.ndarray:
    """Eq. (5.1) entry by entry: M[r, t-1] = sin(t / 10000^(r/(dim-2))), M[r+1, t-1] = cos(…)."""
    m = np.zeros((dim, T))
    for r in range(0, dim, 2):
        exponent = r / (dim - 2) if dim > 2 else 0.0
        for t in range(1, T + 1):
            angle = t / 10000.0**exponent
            m[r, t - 1] = math.sin(angle)
            m[r + 1, t - 1] = math.cos(angle)
    return m


def silu(x: torch.Tensor) -> torch.Tensor:
    return x / (1 + torch.exp(-x))


def forward_by_hand(model: TimeConditionedMLP, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The MLP written out with explicit weight matrices and the hand-made embedding."""
    T, hidden = model.config["num_timesteps"], model.config["hidden"]
    emb = torch.tensor(embedding_by_hand(T, hidden).T, dtype=torch.float64)[t - 1]
    h = x.double()
    for layer in model.layers:
        W, b = layer.linear.weight.double(), layer.linear.bias.double()
        U, c = layer.time_projection.weight.double(), layer.time_projection.bias.double()
        h = silu(h @ W.T + b + emb @ U.T + c)
    return h @ model.output.weight.double().T + model.output.bias.double()


@pytest.mark.parametrize("T, dim", [(1, 2), (40, 2), (40, 4), (40, 32), (100, 16)])
def test_embedding_matrix_closed_form(T, dim):
    m = sinusoidal_embedding_matrix(T, dim)
    assert m.shape == (dim, T) and m.dtype == np.float64
    np.testing.assert_allclose(m, embedding_by_hand(T, dim), rtol=0, atol=1e-12)


def test_embedding_rows_have_the_stated_periods():
    # Row 0 has period 2π (frequency 1); the last pair has frequency 1/10000.
    m = sinusoidal_embedding_matrix(3, 8)
    assert m[0, 0] == pytest.approx(math.sin(1.0), abs=1e-15)
    assert m[6, 2] == pytest.approx(math.sin(3 / 10000), abs=1e-15)
    assert m[7, 2] == pytest.approx(math.cos(3 / 10000), abs=1e-15)
    # sin² + cos² = 1 for every pair, so every column has norm √(dim/2).
    np.testing.assert_allclose(np.linalg.norm(sinusoidal_embedding_matrix(50, 8), axis=0), 2.0, rtol=1e-14)


def test_embedding_columns_are_distinct_for_T1000():
    m = torch.tensor(sinusoidal_embedding_matrix(1000, 32).T)
    dist = torch.cdist(m, m)
    dist.fill_diagonal_(float("inf"))
    assert dist.min() > 1.0          # the closest pair (measured 1.15) is still far apart


def test_embedding_module_is_a_fixed_lookup():
    emb = SinusoidalEmbedding(40, 8)
    assert list(emb.parameters()) == [] and emb.state_dict() == {}
    t = torch.tensor([1, 7, 40])
    out = emb(t)
    assert out.dtype == torch.float32 and out.shape == (3, 8)
    np.testing.assert_allclose(out.numpy(), embedding_by_hand(40, 8)[:, [0, 6, 39]].T, atol=1e-7)
    assert "40 => 8" in repr(emb)


def test_embedding_is_not_trainable_in_the_model():
    model = TimeConditionedMLP(40)
    assert not any(name.startswith("embedding") for name, _ in model.named_parameters())
    assert not any(key.startswith("embedding") for key in model.state_dict())
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    model(x, torch.randint(1, 41, (8,), generator=torch.Generator().manual_seed(1))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert model.embedding.table.grad is None and not model.embedding.table.requires_grad


def test_forward_matches_a_hand_written_network():
    torch.manual_seed(3)
    model = TimeConditionedMLP(40, hidden=32, depth=3)
    g = torch.Generator().manual_seed(4)
    x = torch.randn(16, 2, generator=g)
    t = torch.randint(1, 41, (16,), generator=g)
    out = model(x, t)
    assert out.shape == (16, 2) and out.dtype == torch.float32
    torch.testing.assert_close(out.double(), forward_by_hand(model, x, t), rtol=1e-5, atol=1e-6)


def test_output_depends_on_t():
    torch.manual_seed(0)
    model = TimeConditionedMLP(40)
    x = torch.tensor([[0.3, -0.2]]).expand(40, 2)
    out = model(x, torch.arange(1, 41))
    # Same x, 40 different t: 40 different outputs.
    diffs = (out[:, None, :] - out[None, :, :]).norm(dim=-1) + torch.eye(40) * 1e9
    assert diffs.min() > 1e-5
    # And the output depends on x for fixed t.
    y = model(torch.tensor([[0.3, -0.2], [0.3, -0.1]]), torch.tensor([5, 5]))
    assert (y[0] - y[1]).norm() > 1e-5


def test_conditioned_layer_is_a_sum_of_two_linear_maps():
    torch.manual_seed(1)
    emb = SinusoidalEmbedding(10, 4)
    layer = ConditionedLayer(3, 5, emb)
    x, e = torch.randn(2, 3), torch.randn(2, 4)
    expected = x @ layer.linear.weight.T + layer.linear.bias + e @ layer.time_projection.weight.T \
        + layer.time_projection.bias
    torch.testing.assert_close(layer(x, e), expected)


def test_fourier_features_by_hand():
    ff = FourierFeatures(2, 3)
    assert ff.out_features == 2 * (1 + 2 * 3)
    x = torch.tensor([[0.25, -0.5]])
    out = ff(x)[0].double()
    angles = [math.pi * 2**k * v for v in (0.25, -0.5) for k in range(3)]
    expected = [0.25, -0.5] + [math.sin(a) for a in angles] + [math.cos(a) for a in angles]
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-6)
    assert "bands=3" in repr(ff)


def linear_params(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def test_parameter_count_by_hand():
    # hidden 32, depth 3, data 2: layer 0 = (2·32 + 32) + (32·32 + 32), layers 1-2 = 2·(32·32 + 32), out = 32·2 + 2.
    assert (2 * 32 + 32) + (32 * 32 + 32) + 2 * 2 * (32 * 32 + 32) + (32 * 2 + 2) == 5442
    assert parameter_count(TimeConditionedMLP(40, hidden=32, depth=3)) == 5442
    # The count does not depend on T (the embedding has no parameters).
    assert parameter_count(TimeConditionedMLP(1000, hidden=32, depth=3)) == 5442
    # hidden 16, depth 2, data 3, 2 Fourier bands: 15 input features.
    hand = (linear_params(15, 16) + linear_params(16, 16)) + 2 * linear_params(16, 16) + linear_params(16, 3)
    assert hand == 1123
    assert parameter_count(TimeConditionedMLP(40, hidden=16, depth=2, data_dim=3, fourier_bands=2)) == 1123
    # hidden 128, depth 4.
    hand = linear_params(2, 128) + linear_params(128, 128) + 3 * 2 * linear_params(128, 128) + linear_params(128, 2)
    assert parameter_count(TimeConditionedMLP(100, hidden=128, depth=4)) == hand == 116_226


def test_parameter_count_trainable_only():
    model = TimeConditionedMLP(40)
    model.output.requires_grad_(False)
    assert parameter_count(model) == 5442 - 66
    assert parameter_count(model, trainable_only=False) == 5442


def test_describe_lists_every_layer_and_the_total():
    model = TimeConditionedMLP(40, hidden=32, depth=3)
    text = describe(model)
    lines = text.splitlines()
    assert lines[0] == "TimeConditionedMLP"
    expected = {"embedding": 0, "activation": 0, "output": 66}
    for k in range(3):
        expected[f"layers.{k}.linear"] = 96 if k == 0 else 1056
        expected[f"layers.{k}.time_projection"] = 1056
    found = {}
    for line in lines[2:-1]:
        parts = line.split()
        found[parts[0]] = int(parts[-1].replace(",", ""))
    assert found == expected
    assert lines[-1].split()[-1] == "5,442" and "total" in lines[-1]
    assert "Linear(2 → 32)" in text and "Linear(32 → 2)" in text and "SinusoidalEmbedding(40 => 32)" in text


def test_config_records_the_arguments():
    model = TimeConditionedMLP(25, hidden=8, depth=2, data_dim=3, fourier_bands=1)
    assert model.config == {"num_timesteps": 25, "hidden": 8, "depth": 2, "data_dim": 3, "fourier_bands": 1}
    out = model(torch.zeros(4, 3), torch.tensor([1, 2, 24, 25]))
    assert out.shape == (4, 3)


@pytest.mark.parametrize("kwargs, match", [
    ({"num_timesteps": 0}, "num_timesteps must be an integer >= 1, got 0"),
    ({"num_timesteps": 2.5}, "num_timesteps must be an integer >= 1, got 2.5"),
    ({"num_timesteps": True}, "num_timesteps must be an integer >= 1, got True"),
    ({"num_timesteps": 40, "hidden": 1}, "hidden must be an integer >= 2, got 1"),
    ({"num_timesteps": 40, "hidden": 31}, "hidden must be even"),
    ({"num_timesteps": 40, "depth": 0}, "depth must be an integer >= 1, got 0"),
    ({"num_timesteps": 40, "data_dim": 0}, "data_dim must be an integer >= 1, got 0"),
    ({"num_timesteps": 40, "fourier_bands": -1}, "fourier_bands must be an integer >= 0, got -1"),
])
def test_invalid_model_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TimeConditionedMLP(**kwargs)


@pytest.mark.parametrize("T, dim, match", [
    (0, 8, "num_timesteps must be an integer >= 1, got 0"),
    (True, 8, "num_timesteps must be an integer >= 1"),
    (10, 7, r"dim must be even \(rows pair sin and cos\), got 7"),
    (10, 0, "dim must be an integer >= 2, got 0"),
    (10, 4.0, "dim must be an integer >= 2, got 4.0"),
])
def test_invalid_embedding_arguments(T, dim, match):
    with pytest.raises(ValueError, match=match):
        sinusoidal_embedding_matrix(T, dim)
