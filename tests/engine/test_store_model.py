"""goaldrift.engine.models.store: the fixed store, its index, and the read path."""

import itertools

import pytest
import torch

from goaldrift.engine.models import MLP, MLPConfig, StoreMLPConfig, build_model, model_kind
from goaldrift.engine.models.store import parity_table, store_index
from goaldrift.engine.train import RunConfig, OptimConfig


def test_table_and_index_give_the_parity_of_the_bits():
    x = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=5)))
    bits = [1, 2, 4]
    got = parity_table(3)[store_index(x, bits)]
    assert torch.equal(got, x[:, bits].prod(1).double())


def test_store_is_not_a_parameter_and_output_adds_the_read():
    cfg = StoreMLPConfig(d_in=6, d_hidden=8, store_bits=[1, 2, 3], read_init=0.7)
    model = build_model(cfg, [0, 1])
    assert model_kind(cfg) == "store_mlp" and model_kind(MLPConfig(d_in=6, d_hidden=8)) == "mlp"
    assert "store" not in dict(model.named_parameters()) and "store" not in model.state_dict()
    assert set(dict(model.named_parameters())) == {"W_0", "b_0", "W_1", "b_1", "read"}
    plain = build_model(MLPConfig(d_in=6, d_hidden=8), [0, 1])
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if k != "read"})
    x = torch.randint(0, 2, (16, 6)).float() * 2 - 1
    expected = plain.predict(x) + 0.7 * x[:, 1:4].prod(1)[None, :, None]
    assert torch.allclose(model.predict(x), expected, atol=1e-6)
    # the read gain gets the gradient of the output times the stored value
    model.predict(x).sum().backward()
    assert torch.allclose(model.read.grad, x[:, 1:4].prod(1).sum().expand(2, 1))


def test_config_round_trips_through_the_run_config():
    cfg = StoreMLPConfig(d_in=6, d_hidden=8, store_bits=[1, 2], read_init=0.5)
    rc = RunConfig(task={"name": "proxy"}, model=cfg, optim=OptimConfig(), steps=1, seeds=[0])
    back = RunConfig.from_dict(rc.to_dict())
    assert back.model == cfg and isinstance(back.model, StoreMLPConfig)


def test_bad_store_bits_are_refused():
    with pytest.raises(ValueError, match="store_bits"):
        build_model(StoreMLPConfig(d_in=4, d_hidden=8, store_bits=[1, 9]), [0])
