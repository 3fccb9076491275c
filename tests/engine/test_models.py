"""Models: ensemble init, published init, fast path = plain path, caches."""

import math

import pytest
import torch

from goaldrift.engine.models import MLP, MLPConfig, Transformer, TransformerConfig, build_model
from goaldrift.engine.tasks.modular import modular_data, split_pairs

SMALL = dict(d_model=32, n_heads=4, d_head=8, d_mlp=64)


def rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize("make", [
    lambda seeds: Transformer(TransformerConfig.for_modulus(11, **SMALL), seeds),
    lambda seeds: MLP(MLPConfig(d_in=6, d_hidden=[16, 8], d_out=3, activation="quadratic"), seeds),
])
def test_member_k_is_the_single_model_with_its_seed(make):
    seeds = [5, 0, 17]
    ens = make(seeds)
    for k, s in enumerate(seeds):
        single = make([s])
        for name, p in single.named_parameters():
            assert torch.equal(getattr(ens, name)[k], p[0]), name


def test_transformer_init_reproduces_published_draws():
    cfg = TransformerConfig()  # the published p=113 sizes
    model = Transformer(cfg, [3])
    torch.manual_seed(3)  # the published code draws from the global RNG, module by module
    D, V, H, dh, M = 128, 114, 4, 32, 512
    W_E = torch.randn(D, V) / math.sqrt(D)
    W_pos = torch.randn(3, D) / math.sqrt(D)
    W_K, W_Q, W_V = (torch.randn(H, dh, D) / math.sqrt(D) for _ in range(3))
    W_O = torch.randn(D, H * dh) / math.sqrt(D)
    W_in = torch.randn(M, D) / math.sqrt(D)
    W_out = torch.randn(D, M) / math.sqrt(D)
    W_U = torch.randn(D, V) / math.sqrt(V)
    assert torch.equal(model.W_E[0], W_E.T)
    assert torch.equal(model.W_pos[0], W_pos)
    assert torch.equal(model.W_Q[0], W_Q.transpose(1, 2))
    assert torch.equal(model.W_K[0], W_K.transpose(1, 2))
    assert torch.equal(model.W_V[0], W_V.transpose(1, 2))
    # published: out = einsum('df,bqf->bqd', W_O, z_flat) with f = (head, d_head)
    assert torch.equal(model.W_O[0].reshape(H * dh, D), W_O.T)
    assert torch.equal(model.W_in[0], W_in.T)
    assert torch.equal(model.W_out[0], W_out.T)
    assert torch.equal(model.W_U[0], W_U)
    assert not model.b_in.any() and not model.b_out.any()
    assert model.W_L.shape == (1, M, V)


def _loss_and_grads(model, tokens, labels, fast):
    model.zero_grad()
    out = model.forward_last(tokens) if fast else model.forward(tokens)[:, :, -1]
    loss = torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), labels.repeat(model.K))
    loss.backward()
    return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("scale", [1.0, 4.0])
def test_fast_path_equals_plain_forward_values_and_gradients(scale):
    data = modular_data(p=31, train_frac=0.5, seed=0)
    model = Transformer(TransformerConfig.for_modulus(31, d_model=64, n_heads=4, d_head=16, d_mlp=128), [0, 1])
    with torch.no_grad():  # larger weights: sharp attention patterns, large logits
        for p in model.parameters():
            p.mul_(scale)
        model.b_in.normal_()
        model.b_out.normal_()
    plain, g_plain = _loss_and_grads(model, data.train_x, data.train_y, fast=False)
    fast, g_fast = _loss_and_grads(model, data.train_x, data.train_y, fast=True)
    assert rel_err(fast, plain) < 1e-5
    for name in g_plain:
        assert rel_err(g_fast[name], g_plain[name]) < 1e-5, name


def test_fast_path_at_published_size():
    data = modular_data(p=113, train_frac=0.3, seed=0)
    model = Transformer(TransformerConfig(), [0])
    x, y = data.train_x[:1000], data.train_y[:1000]
    plain, g_plain = _loss_and_grads(model, x, y, fast=False)
    fast, g_fast = _loss_and_grads(model, x, y, fast=True)
    assert rel_err(fast, plain) < 1e-5
    for name in g_plain:
        assert rel_err(g_fast[name], g_plain[name]) < 1e-5, name


def test_transformer_cache_names_and_shapes():
    K, N, p = 2, 7, 11
    model = Transformer(TransformerConfig.for_modulus(p, **SMALL), [0, 1])
    tokens = modular_data(p=p, train_frac=0.5, seed=0).train_x[:N]
    logits, cache = model.run_with_cache(tokens)
    assert logits.shape == (K, N, 3, p + 1)
    assert torch.equal(cache["logits"], logits.detach())
    assert cache["embed"].shape == (K, N, 3, 32)
    assert cache["attn.pattern"].shape == (K, N, 4, 3, 3)
    pattern = cache["attn.pattern"]
    assert torch.allclose(pattern.sum(-1), torch.ones(()))
    assert (pattern.triu(1) == 0).all()  # causal
    for key in ("pos_embed", "attn.out", "mlp.pre", "mlp.post", "resid_mid", "resid_post"):
        assert key in cache
    assert cache["mlp.pre"].shape == (K, N, 3, 64)
    assert torch.equal(cache["mlp.post"], torch.relu(cache["mlp.pre"]))
    assert torch.allclose(model.predict(tokens), logits[:, :, -1], atol=1e-5)


def test_mlp_cache_and_activation():
    model = build_model(MLPConfig(d_in=5, d_hidden=[7, 6], d_out=2, activation="quadratic"), [0, 1, 2])
    x = torch.randn(9, 5)
    out, cache = model.run_with_cache(x)
    assert out.shape == (3, 9, 2)
    assert set(cache) == {"hidden.0.pre", "hidden.0.post", "hidden.1.pre", "hidden.1.post", "out"}
    assert torch.equal(cache["hidden.1.post"], cache["hidden.1.pre"] ** 2)
    # a shared input and the same input repeated per member give the same outputs
    assert torch.allclose(model(x.expand(3, 9, 5)), out)
    assert model.W_in is model.W_0 and model.W_out is model.W_2


def test_mlp_member_outputs_match_single_models():
    cfg = MLPConfig(d_in=4, d_hidden=16, d_out=3)
    ens = MLP(cfg, [1, 2])
    x = torch.randn(10, 4)
    for k, s in enumerate([1, 2]):
        assert torch.allclose(ens(x)[k], MLP(cfg, [s])(x)[0], atol=1e-6)


def test_modular_split_is_the_published_one():
    import random
    pairs = [(i, j, 13) for i in range(13) for j in range(13)]
    random.seed(4)
    random.shuffle(pairs)
    train, test = split_pairs(13, 0.3, 4)
    assert train == pairs[:int(0.3 * 169)] and test == pairs[int(0.3 * 169):]
    d = modular_data(p=13, train_frac=0.3, seed=4)
    assert d.train_x.shape == (50, 3) and d.test_x.shape == (119, 3)
    assert torch.equal(d.train_y, (d.train_x[:, 0] + d.train_x[:, 1]) % 13)
    assert (d.train_x[:, 2] == 13).all()
    oh = modular_data(p=13, train_frac=0.3, seed=4, encoding="onehot")
    assert oh.train_x.shape == (50, 26) and torch.equal(oh.train_x[:, :13].argmax(1), d.train_x[:, 0])


def test_layernorm_mlp_is_scale_invariant_in_its_hidden_layer_and_round_trips():
    import torch
    from goaldrift.engine.models import LNMLPConfig, build_model, model_kind
    from goaldrift.engine.train import OptimConfig, RunConfig
    cfg = LNMLPConfig(d_in=4, d_hidden=8)
    assert model_kind(cfg) == "ln_mlp"
    net = build_model(cfg, [0, 1], dtype=torch.float64)
    x = torch.randn(10, 4, dtype=torch.float64)
    with torch.no_grad():
        net.b_0.normal_()
        f0 = net.predict(x).clone()
        net.W_0.mul_(3.0); net.b_0.mul_(3.0)
    assert torch.allclose(net.predict(x), f0, rtol=1e-4)
    rc = RunConfig(task={"name": "proxy"}, model=cfg, optim=OptimConfig(), steps=1, seeds=[0])
    assert RunConfig.from_dict(rc.to_dict()).model == cfg
