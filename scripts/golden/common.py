"""Shared steps of the golden-forward scripts: seeded random weights that survive float16 storage,
formula weights that need no storage, BatchNorm statistics that look trained, and the fixture
layout the TypeScript tests read.

Fixture layout (one safetensors file per network): the model's state_dict under PyTorch's exact
names (less any formula weights), plus under `golden.` the input, the eval-mode logits, the
train-mode logits, both again from the network run in float64, the BN running statistics after one
train-mode forward and the eval logits of wrong variants (see write_forward_golden). Weights and
inputs are rounded to float16 and stored as F16 (half the bytes; the values are exactly what both
sides compute with, in float32); logits are F32 (F64 for the float64 ones). `num_batches_tracked`
stays I64 as PyTorch saves it. Metadata: `torch` (version), `state_dict_keys` (JSON list in
PyTorch's order), and what the script adds (`model`, `formula_weights`, ...).
"""
import copy
import json
import math

import torch

from safetensors_io import write_safetensors


def round_filters(c, w):
    """Channels `c` scaled by the width multiplier `w` and rounded as the authors' EfficientNet and
    MicroNet code rounds them: to the nearest multiple of 8 (at least 8), plus 8 when rounding lost
    more than 10%."""
    c *= w
    r = max(8, int(c + 4) // 8 * 8)
    if r < 0.9 * c:
        r += 8
    return int(r)


def round_to_f16_(module):
    """Rounds every parameter and float buffer of `module` to float16-representable values (in place)."""
    with torch.no_grad():
        for t in list(module.parameters()) + [b for b in module.buffers() if b.is_floating_point()]:
            t.copy_(t.half().float())


def randomize_batchnorm_(model, make_batch, gen, batches=4):
    """BatchNorm as after training: running statistics measured on `batches` calls of `make_batch()`
    (cumulative average, train mode), then γ of either sign with |γ| in [0.5, 1.5], β ~ 0.2·N(0, 1),
    the running mean shifted by 0.1·σ·N(0, 1) and the variance scaled by a factor in [0.5, 2], so that
    eval mode does not simply re-normalise. Leaves the model in eval mode."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]  # restored afterwards: EfficientNet's BN uses 0.01, not 0.1
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(make_batch())
    with torch.no_grad():
        for m in bns:
            c = m.num_features
            sign = (torch.rand(c, generator=gen) < 0.5).float() * 2 - 1
            m.weight.copy_(sign * (0.5 + torch.rand(c, generator=gen)))
            m.bias.copy_(0.2 * torch.randn(c, generator=gen))
            m.running_mean.add_(0.1 * m.running_var.sqrt() * torch.randn(c, generator=gen))
            m.running_var.mul_(0.5 + 1.5 * torch.rand(c, generator=gen))
        for m, momentum in zip(bns, momenta):
            m.momentum = momentum
    model.eval()


# Formula weights: the hash below is integer arithmetic whose every intermediate stays below 2^53,
# so TypeScript's doubles (test/helpers/golden.ts, formulaWeights) compute the same integers; the one
# division by a power of two is exact in float16 and float32.
_U32 = 1 << 32
_MUL, _INC = 1664525, 1013904223  # Numerical Recipes' LCG constants; _MUL < 2^21 keeps h·_MUL < 2^53
_FORMULA_SPREAD = 2047  # values v in [-1023, 1023]: 10 bits, exact in float16's 11-bit significand
_FORMULA_STD = math.sqrt((_FORMULA_SPREAD ** 2 - 1) / 12)  # standard deviation of v


def formula_weights(index, numel, shift):
    """Deterministic weights: element i of formula tensor `index` is v(index, i) / 2^shift with
    v = h mod 2047 - 1023, where h = (index·1000003 + i) mod 2^32 goes twice through
    h = (h·1664525 + 1013904223) mod 2^32 followed by h ^= h >> 16 (first) and h >> 13 (second).
    Returns a float32 vector of `numel` values."""
    i = torch.arange(numel, dtype=torch.int64)
    h = (index * 1000003 + i) % _U32
    h = (h * _MUL + _INC) % _U32
    h = h ^ (h >> 16)
    h = (h * _MUL + _INC) % _U32
    h = h ^ (h >> 13)
    v = h % _FORMULA_SPREAD - (_FORMULA_SPREAD - 1) // 2
    return v.double().div(2.0 ** shift).float()


def set_formula_weights_(model):
    """Replaces every conv and linear weight (the tensors that make a network big) by
    formula_weights, scaled to about Kaiming's std √(2/fan_in) with a power of two, so a fixture need
    not store them. Returns [[state-dict key, shape, shift], ...] in state-dict order: the index in
    this list is the formula's `index`. Write it as metadata `formula_weights`."""
    listed = []
    sd = model.state_dict()
    with torch.no_grad():
        for k, v in sd.items():
            if not (k.endswith('.weight') and v.dim() in (2, 4)):
                continue
            fan_in = v[0].numel()
            shift = round(math.log2(_FORMULA_STD * math.sqrt(fan_in / 2)))
            v.copy_(formula_weights(len(listed), v.numel(), shift).reshape(v.shape))
            listed.append([k, list(v.shape), shift])
    return listed


def write_forward_golden(path, model, x, metadata, formula_keys=(), wrong=()):
    """Writes the model's state_dict (floats as F16) and, under `golden.`: `input` (F16), the
    eval-mode `logits`, the train-mode `train_logits` of the same input (batch statistics) and the
    BatchNorm running statistics after that one train-mode forward, `after_train.<state-dict key>`
    (all F32). Weights and `x` must already be float16-exact (see round_to_f16_). Returns the logits.

    `formula_keys`: state-dict keys left out of the file because they are formula weights (the
    metadata `formula_weights` says how to recompute them). `wrong`: (name, switch) pairs of
    deliberately wrong variants; `switch(True)` turns one on, `switch(False)` off; its eval logits
    go to `golden.wrong.<name>` so a test can show that its bound tells them apart. The eval and
    train logits of the same network in float64 go to `golden.logits_f64` / `golden.train_logits_f64`
    (F64): the distance of PyTorch's float32 logits from them is the float32 error a test may allow."""
    model.eval()
    assert torch.equal(x, x.half().float()), 'input must be float16-exact'
    tensors = {}
    skip = set(formula_keys)
    for k, v in model.state_dict().items():
        if k in skip:
            continue
        if v.is_floating_point():
            assert torch.equal(v, v.half().float()), f'{k} is not float16-exact'
            tensors[k] = v.half()
        else:
            tensors[k] = v.clone()
    # The writer sorts by name; the metadata keeps PyTorch's state_dict order for the tests.
    order = json.dumps(list(model.state_dict().keys()))
    with torch.no_grad():
        logits = model(x)
        trained = copy.deepcopy(model).train()
        train_logits = trained(x)
        # The same network in float64: how far float32 itself is from exact, for the tests' bound.
        exact = copy.deepcopy(model).double()
        tensors['golden.logits_f64'] = exact(x.double())
        tensors['golden.train_logits_f64'] = copy.deepcopy(exact).train()(x.double())
        for name, switch in wrong:
            switch(True)
            tensors['golden.wrong.' + name] = model(x).float()
            switch(False)
        assert torch.equal(model(x), logits), 'a wrong-variant switch did not restore the model'
    tensors['golden.input'] = x.half()
    tensors['golden.logits'] = logits.float()
    tensors['golden.train_logits'] = train_logits.float()
    for k, v in trained.state_dict().items():
        if k.endswith('.running_mean') or k.endswith('.running_var'):
            tensors['golden.after_train.' + k] = v.float()
    write_safetensors(path, tensors, {'torch': torch.__version__, 'state_dict_keys': order, **metadata})
    return logits
