"""Shared steps of the golden-forward scripts: seeded random weights that survive float16 storage,
BatchNorm statistics that look trained, and the fixture layout the TypeScript tests read.

Fixture layout (one safetensors file per network): the model's state_dict under PyTorch's exact
names, plus under `golden.` the input, the eval-mode logits, the train-mode logits and the BN
running statistics after one train-mode forward (see write_forward_golden). Weights and inputs are rounded to
float16 and stored as F16 (half the bytes; the values are exactly what both sides compute with, in
float32); logits are F32. `num_batches_tracked` stays I64 as PyTorch saves it. Metadata: `torch`
(version), `state_dict_keys` (JSON list in PyTorch's order), and what the script adds (`model`, ...).
"""
import copy
import json

import torch

from safetensors_io import write_safetensors


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
            m.momentum = 0.1
    model.eval()


def write_forward_golden(path, model, x, metadata):
    """Writes the model's state_dict (floats as F16) and, under `golden.`: `input` (F16), the
    eval-mode `logits`, the train-mode `train_logits` of the same input (batch statistics) and the
    BatchNorm running statistics after that one train-mode forward, `after_train.<state-dict key>`
    (all F32). Weights and `x` must already be float16-exact (see round_to_f16_). Returns the logits."""
    model.eval()
    assert torch.equal(x, x.half().float()), 'input must be float16-exact'
    tensors = {}
    for k, v in model.state_dict().items():
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
    tensors['golden.input'] = x.half()
    tensors['golden.logits'] = logits.float()
    tensors['golden.train_logits'] = train_logits.float()
    for k, v in trained.state_dict().items():
        if k.endswith('.running_mean') or k.endswith('.running_var'):
            tensors['golden.after_train.' + k] = v.float()
    write_safetensors(path, tensors, {'torch': torch.__version__, 'state_dict_keys': order, **metadata})
    return logits
