"""Golden vectors for ec2t/assign.ts (not run by the tests; needs PyTorch).

Re-implements, with float32 torch tensors op by op, the authors' entropy-constrained ternary
assignment (d-becking/efficientCNNs, model_quantization/quantizer.py: distances, preliminary
argmin, pmf with empty cluster = 1 and the 0.5 floor incl. its quirk, -log2, lambda_max, cost
argmin) plus the 0.675*std centroid floor, and writes test/ec2t/fixtures/assign-golden.json (assignments as strings of n/0/p).

    /usr/bin/python3 ec2t/golden/make_golden.py
"""
import json
import os
import torch

torch.manual_seed(20200405)


def pmf(prelim, numel, variant):
    counts = torch.ones(3)
    for c in range(3):
        k = int((prelim == c).sum())
        if k > 0:
            counts[c] = k
    p = torch.div(counts.type(torch.float32), numel)
    if p[1] < 0.5:
        old_n = p[0].clone()
        p[0] -= (p[0] / (p[0] + p[2])) * (0.5 - p[1])
        n_for_p = p[0] if variant == 'reference' else old_n
        p[2] -= (p[2] / (n_for_p + p[2])) * (0.5 - p[1])
        p[1] = 0.5
    return p


def assign(w, wp, wn, gain, decay, variant):
    c = torch.tensor([-wn, 0, wp])  # wp, wn: 0-dim float32 tensors
    dist = (c.unsqueeze(1).sub(w)) ** 2
    prelim = torch.argmin(dist, dim=0)
    p = pmf(prelim, w.numel(), variant)
    info = -torch.log2(p)
    a = w.min().abs()
    b = w.max().abs()
    lam_n = ((0 - a) ** 2 - (wn.sub(a)) ** 2) / (info[0] - info[1])
    lam_p = ((0 - b) ** 2 - (wp.sub(b)) ** 2) / (info[2] - info[1])
    lam_max = lam_p if lam_p < lam_n else lam_n
    lam = lam_max.clone()
    lam *= gain
    lam *= decay
    cost = torch.add(dist, lam * info.unsqueeze(1))
    return torch.argmin(cost, dim=0), lam, lam_max, p, info


def f32list(t):
    return [float(x) for x in t.tolist()]


layers = []
cases = []
sizes = [7, 30, 64, 150, 200, 120]
largest = max(sizes)
for li, n in enumerate(sizes):
    w = (torch.randn(n) * 0.1).type(torch.float32)
    if li == 5:
        w = w.abs() - 0.02  # mostly positive layer
    layers.append(f32list(w))
    for scaler in (0.05, 0.25, 0.5, 0.8):
        wp = (w.max().abs() * scaler).type(torch.float32)
        wn = (w.min().abs() * scaler).type(torch.float32)
        std05 = torch.std(w).mul(0.675)
        for gain in (0.1, 0.4):
            decay = ((n / largest) + 0.05) / (1 + 0.05)
            for variant in ('reference', 'corrected'):
                a, lam, lam_max, p, info = assign(w, wp, wn, gain, decay, variant)
                if not (torch.isfinite(lam_max) and lam_max >= 0):
                    continue  # degenerate in the authors' code; covered by hand-written tests
                cases.append({
                    'name': f'layer{li}-s{scaler}-g{gain}-{variant}',
                    'layer': li, 'wp': float(wp), 'wn': float(wn),
                    'gain': gain, 'decay': decay, 'variant': variant,
                    'assignment': ''.join('n0p'[int(x)] for x in a.tolist()),
                    'lambda': float(lam), 'lambdaMax': float(lam_max),
                    'probabilities': f32list(p), 'information': f32list(info),
                    'floor': float(std05),
                })

out = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'ec2t', 'fixtures', 'assign-golden.json')
with open(out, 'w') as fh:
    json.dump({'torch': torch.__version__, 'device': 'cpu', 'layers': layers, 'cases': cases}, fh)
print(len(cases), 'cases,', sum(1 for c in cases if c['probabilities'][1] == 0.5), 'with P_0 = 0.5 (floor),',
      sum(1 for c in cases if c['lambda'] != 0), 'with lambda != 0 ->', out)
