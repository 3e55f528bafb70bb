"""Golden vectors for ec2t/assign.ts (not run by the tests; needs PyTorch).

Re-implements, with float32 torch tensors op by op, the authors' entropy-constrained ternary
assignment (d-becking/efficientCNNs, model_quantization/quantizer.py: distances, preliminary
argmin, pmf with empty cluster = 1 and the 0.5 floor incl. its quirk, -log2, lambda_max, cost
argmin) plus the 0.675*std centroid floor, and writes test/ec2t/fixtures/assign-golden.json
(assignments as strings of n/0/p).

The `corrected` variant adds ec2t's guards (see assignTernary's TSDoc): a lambda_max term is used
only with a positive numerator and I_c > I_0, the costs use max(I_c, I_0), and a layer that would
sit entirely in one non-zero cluster has its smallest |w| moved to zero. The random layers of the
first part never reach these guards, so a second part searches small layers (non-negative,
non-positive, all on one side of a centroid) for cases where dropping a guard changes the result,
and records in `reaches` which guards each case depends on.

    /usr/bin/python3 scripts/golden/make_assign_golden.py
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


GUARDS = ('numerator', 'denominator', 'max-In', 'max-Ip', 'safety-net')


def assign(w, wp, wn, gain, decay, variant, drop=None):
    """`drop` (corrected only) leaves one of GUARDS out, to find the cases that depend on it."""
    c = torch.tensor([-wn, 0, wp])  # wp, wn: 0-dim float32 tensors
    dist = (c.unsqueeze(1).sub(w)) ** 2
    prelim = torch.argmin(dist, dim=0)
    p = pmf(prelim, w.numel(), variant)
    info = -torch.log2(p)
    a = w.min().abs()
    b = w.max().abs()
    num_n = (0 - a) ** 2 - (wn.sub(a)) ** 2
    num_p = (0 - b) ** 2 - (wp.sub(b)) ** 2
    den_n = info[0] - info[1]
    den_p = info[2] - info[1]
    lam_n = num_n / den_n
    lam_p = num_p / den_p
    if variant == 'reference':
        lam_max = lam_p if lam_p < lam_n else lam_n
        cost_info = info
    else:
        def usable(value, num, den):
            return (bool(torch.isfinite(value)) and (drop == 'numerator' or float(num) > 0)
                    and (drop == 'denominator' or float(den) > 0))
        terms = [t for t, ok in ((lam_n, usable(lam_n, num_n, den_n)), (lam_p, usable(lam_p, num_p, den_p))) if ok]
        lam_max = torch.tensor(0.0) if not terms else (terms[1] if len(terms) == 2 and terms[1] < terms[0] else terms[0])
        cost_info = info.clone()
        if drop != 'max-In':
            cost_info[0] = torch.maximum(info[0], info[1])
        if drop != 'max-Ip':
            cost_info[2] = torch.maximum(info[2], info[1])
    lam = lam_max.clone()
    lam *= gain
    lam *= decay
    if variant == 'corrected' and float(lam) == 0:
        a = prelim.clone()
    else:
        cost = torch.add(dist, lam * cost_info.unsqueeze(1))
        a = torch.argmin(cost, dim=0)
    if variant == 'corrected' and drop != 'safety-net' and int(a[0]) != 1 and bool((a == a[0]).all()):
        a[torch.argmin(w.abs())] = 1  # first index of the smallest |w|
    return a, lam, lam_max, p, info


def codes(a):
    return ''.join('n0p'[int(x)] for x in a.tolist())


def reaches(w, wp, wn, gain, decay):
    """The corrected-variant guards whose removal changes the assignment or lambda."""
    a, lam = assign(w, wp, wn, gain, decay, 'corrected')[:2]
    out = []
    for g in GUARDS:
        b, lam_b = assign(w, wp, wn, gain, decay, 'corrected', drop=g)[:2]
        if codes(b) != codes(a) or float(lam_b) != float(lam):
            out.append(g)
    return out


def f32list(t):
    return [float(x) for x in t.tolist()]


layers = []
cases = []


def record(name, li, w, wp, wn, gain, decay, variant):
    a, lam, lam_max, p, info = assign(w, wp, wn, gain, decay, variant)
    case = {
        'name': name,
        'layer': li, 'wp': float(wp), 'wn': float(wn),
        'gain': gain, 'decay': decay, 'variant': variant,
        'assignment': codes(a),
        'lambda': float(lam) + 0.0, 'lambdaMax': float(lam_max) + 0.0,  # + 0.0: no -0 in the JSON
        'probabilities': f32list(p), 'information': f32list(info),
        'floor': float(torch.std(w).mul(0.675)),
    }
    if variant == 'corrected':
        case['reaches'] = reaches(w, wp, wn, gain, decay)
    return case


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
        for gain in (0.1, 0.4):
            decay = ((n / largest) + 0.05) / (1 + 0.05)
            for variant in ('reference', 'corrected'):
                a, lam, lam_max, p, info = assign(w, wp, wn, gain, decay, variant)
                if not (torch.isfinite(lam_max) and lam_max >= 0):
                    continue  # degenerate in the authors' code; covered by hand-written tests
                cases.append(record(f'layer{li}-s{scaler}-g{gain}-{variant}', li, w, wp, wn, gain, decay, variant))

# Part 2: cases that reach the corrected variant's guards. Small layers of shapes where they
# matter: all weights >= 0 or <= 0 (an empty n or p cluster, counted 1, can leave I_c < I_0 after
# the floor, or a centroid beyond twice the extreme weight), and layers where nearly every weight
# is nearest one non-zero centroid. Up to PER_GUARD cases per guard, in a seeded order.
PER_GUARD = 3
found = {g: 0 for g in GUARDS}
gen = torch.Generator().manual_seed(1812)


def candidate(kind, n):
    u = torch.rand(n, generator=gen)
    if kind == 'positive':
        w = 0.02 + 0.2 * u
    elif kind == 'negative':
        w = -(0.02 + 0.2 * u)
    elif kind == 'positive-offset':  # min W far from 0: the n term's lambda_max is large
        w = 0.1 + 0.15 * u
    elif kind == 'negative-offset':
        w = -(0.1 + 0.15 * u)
    elif kind == 'one-sided-mixed':
        w = 0.15 + 0.1 * u
        w[0] = -0.01 * float(torch.rand(1, generator=gen))
    else:
        w = 0.1 * torch.randn(n, generator=gen)
    return w.type(torch.float32)


KINDS = ('positive', 'negative', 'positive-offset', 'negative-offset', 'one-sided-mixed', 'normal')
tries = 0
while min(found.values()) < PER_GUARD and tries < 20000:
    tries += 1
    kind = KINDS[tries % len(KINDS)]
    n = 6 + int(torch.randint(0, 20, (1,), generator=gen))
    w = candidate(kind, n)
    lo, hi = float(w.min().abs()), float(w.max().abs())
    wp = torch.tensor(hi * float(0.05 + 2.2 * torch.rand(1, generator=gen)), dtype=torch.float32)
    wn = torch.tensor(lo * float(0.05 + 2.2 * torch.rand(1, generator=gen)) + 1e-3, dtype=torch.float32)
    gain = round(float(0.05 + 0.9 * torch.rand(1, generator=gen)), 2)
    decay = 1.0
    r = reaches(w, wp, wn, gain, decay)
    if not r or all(found[g] >= PER_GUARD for g in r):
        continue
    for g in r:
        found[g] += 1
    li = len(layers)
    layers.append(f32list(w))
    name = f'guard-{"+".join(r)}-{kind}-{li}'
    cases.append(record(name, li, w, wp, wn, gain, decay, 'corrected'))
    # The reference variant on the same layer, where its lambda_max is finite (it may be negative:
    # the authors' code keeps it; ec2t's reference variant does too).
    ref = record(name.replace('guard-', 'guard-layer-') + '-reference', li, w, wp, wn, gain, decay, 'reference')
    if all(map(lambda v: v == v and abs(v) != float('inf'), (ref['lambdaMax'], ref['lambda']))):
        cases.append(ref)
assert min(found.values()) >= PER_GUARD, f'guards not reached: {found}'
print('guard cases per guard:', found, 'after', tries, 'candidates')

out = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'ec2t', 'fixtures', 'assign-golden.json')
with open(out, 'w') as fh:
    json.dump({'torch': torch.__version__, 'device': 'cpu', 'layers': layers, 'cases': cases}, fh)
print(len(cases), 'cases,', sum(1 for c in cases if c['probabilities'][1] == 0.5), 'with P_0 = 0.5 (floor),',
      sum(1 for c in cases if c['lambda'] != 0), 'with lambda != 0 ->', os.path.relpath(out))
