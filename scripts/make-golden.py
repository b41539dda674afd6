#!/usr/bin/python3
"""Float64 reference values for the loss tests: test/fixtures/golden/{rkd,protonet}.json.

An independent implementation in PyTorch (float64, autograd), written as the papers define the
losses: RKD-D and RKD-A of Park et al. 2019 (as in the authors' metric/loss.py) and the
prototypical loss of Snell et al. 2017. Inputs are drawn from a seeded generator, so the files
are the same on every run. PyTorch is a tool here, not a dependency of the project:
    apt-get install python3-torch
    /usr/bin/python3 scripts/make-golden.py            # writes test/fixtures/golden/
    /usr/bin/python3 scripts/make-golden.py --check DIR  # recomputes DIR's rkd.json/protonet.json cases
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'golden')


def pairwise_distances(e):
    """Euclidean distances between rows; squared distances clamped at 1e-12 before sqrt, diagonal 0."""
    sq = (e.unsqueeze(0) - e.unsqueeze(1)).pow(2).sum(2)
    d = sq.clamp(min=1e-12).sqrt()
    return d * (1 - torch.eye(len(e)))


def rkd_distance(student, teacher):
    """Huber loss between the two sets of pairwise distances, each divided by its off-diagonal mean."""
    n = len(student)
    def normalised(e):
        d = pairwise_distances(e)
        return d / (d.sum() / (n * (n - 1)))
    return F.smooth_l1_loss(normalised(student), normalised(teacher.detach()), reduction='mean')


def rkd_angle(student, teacher):
    """Huber loss between cos of the angle at vertex i of (x_j - x_i, x_k - x_i), over all triplets."""
    def cosines(e):
        diff = e.unsqueeze(0) - e.unsqueeze(1)  # [i, j] = x_j - x_i
        norm = diff.norm(dim=2, keepdim=True)
        # A zero difference (j == i, or a repeated point) is the zero vector, with zero gradient; F.normalize
        # would give it a gradient of 1/eps (1e12) at a repeated point.
        unit = torch.where(norm > 0, diff / norm.where(norm > 0, torch.ones_like(norm)), torch.zeros_like(diff))
        return torch.bmm(unit, unit.transpose(1, 2))
    return F.smooth_l1_loss(cosines(student), cosines(teacher.detach()), reduction='mean')


def prototypical(support, query, way):
    shot, per_class = len(support) // way, len(query) // way
    protos = support.reshape(way, shot, -1).mean(1)
    logits = -(query.unsqueeze(1) - protos.unsqueeze(0)).pow(2).sum(2)
    labels = torch.arange(way).repeat_interleave(per_class)
    loss = F.cross_entropy(logits, labels)
    accuracy = (logits.argmax(1) == labels).double().mean()
    return loss, logits, accuracy


def rkd_case(name, student, teacher):
    out = {'name': name, 'student': student.tolist(), 'teacher': teacher.tolist()}
    for key, fn in (('rkd_distance', rkd_distance), ('rkd_angle', rkd_angle)):
        s = student.clone().requires_grad_(True)
        loss = fn(s, teacher)
        loss.backward()
        out[key] = loss.item()
        out['grad_' + key] = s.grad.tolist()
    return out


def proto_case(way, shot, query, dim, gen):
    support = torch.randn(way * shot, dim, generator=gen)
    queries = torch.randn(way * query, dim, generator=gen) * 0.7 + support.reshape(way, shot, dim).mean(1).repeat_interleave(query, 0) * 0.5
    s, q = support.clone().requires_grad_(True), queries.clone().requires_grad_(True)
    loss, logits, accuracy = prototypical(s, q, way)
    loss.backward()
    return {'way': way, 'shot': shot, 'query': query, 'dim': dim, 'support': support.tolist(), 'query_embeddings': queries.tolist(),
            'loss': loss.item(), 'accuracy': accuracy.item(), 'logits': logits.tolist(),
            'grad_support': s.grad.tolist(), 'grad_query': q.grad.tolist()}


def make():
    gen = torch.Generator().manual_seed(2019)
    rand = lambda *shape: torch.randn(*shape, generator=gen)
    cases = [rkd_case('tiny-2d-3d', torch.tensor([[0., 0, 0], [2, 0, 1], [0, 1, 0], [1, 1, 1]]),
                      torch.tensor([[0., 0], [1, 0], [0, 2], [3, 1]]))]
    for n, ds, dt in ((5, 4, 4), (10, 8, 16), (25, 16, 64), (40, 64, 64)):
        cases.append(rkd_case(f'random-n{n}-ds{ds}-dt{dt}', rand(n, ds), rand(n, dt)))
    # A scaled, rotated, shifted copy of the teacher: both losses are exactly 0.
    teacher = rand(12, 6)
    rotation, _ = torch.linalg.qr(rand(6, 6))
    cases.append(rkd_case('student-is-affine-copy (loss 0)', 3.5 * teacher @ rotation + 2.0, teacher))
    cases.append(rkd_case('large-scale-gap', 1e6 * rand(8, 5), 1e-3 * rand(8, 5)))
    # A repeated point: a zero difference vector, a zero distance (clamped), finite gradients.
    student = rand(9, 7)
    cases.append(rkd_case('repeated-point', torch.cat([student, student[2:3]]), rand(10, 5)))
    about_rkd = ('RKD reference values (float64, PyTorch autograd; scripts/make-golden.py). rkd_distance: smooth-L1 (beta 1, mean '
                 'over all N*N entries incl. diagonal) between student and teacher pairwise Euclidean distances, each divided by '
                 'its mean over off-diagonal pairs; squared distances clamped at 1e-12 before sqrt; diagonal set to 0. rkd_angle: '
                 'smooth-L1 (mean over all N*N*N entries) between cos of angle at vertex i of (x_j - x_i, x_k - x_i), unit vectors '
                 'with zero vector (and zero gradient) for a zero difference (j == i, or a repeated point). grad_*: gradient of the loss w.r.t. student (teacher is constant).')
    proto = [proto_case(3, 1, 2, 4, gen), proto_case(5, 5, 3, 16, gen), proto_case(20, 1, 5, 64, gen)]
    about_proto = ('Prototypical loss reference (float64, PyTorch autograd; scripts/make-golden.py): prototypes = class means of '
                   'support embeddings (rows class-major), logits = minus squared Euclidean distance from each query to each '
                   'prototype, loss = mean softmax cross-entropy over queries (labels class-major), accuracy = argmax hit rate; '
                   'grads w.r.t. support and query embeddings.')
    os.makedirs(OUT, exist_ok=True)
    for name, body in (('rkd.json', {'about': about_rkd, 'cases': cases}), ('protonet.json', {'about': about_proto, 'cases': proto})):
        path = os.path.join(OUT, name)
        with open(path + '.tmp', 'w') as f:
            json.dump(body, f)
        os.replace(path + '.tmp', path)
        print(f'{os.path.relpath(path)}: {len(body["cases"])} cases')


def rel(a, b):
    a, b = torch.tensor(a).flatten(), torch.tensor(b).flatten()
    # (A gradient that is float64 noise around 0, as for the affine copy, is compared on an absolute floor.)
    return ((a - b).abs().max() / b.abs().max().clamp(min=1e-9)).item()


def check(folder):
    """Recomputes another reference set's cases from their inputs: the largest relative difference per field."""
    worst = 0.0
    for c in json.load(open(os.path.join(folder, 'rkd.json')))['cases']:
        mine = rkd_case(c['name'], torch.tensor(c['student']), torch.tensor(c['teacher']))
        for key in ('rkd_distance', 'rkd_angle', 'grad_rkd_distance', 'grad_rkd_angle'):
            err = rel(mine[key], c[key]) if c[key] != 0 else abs(mine[key])
            worst = max(worst, err)
            print(f'rkd {c["name"]:34s} {key:18s} {err:.2e}')
    for c in json.load(open(os.path.join(folder, 'protonet.json')))['cases']:
        s = torch.tensor(c['support']).requires_grad_(True)
        q = torch.tensor(c['query_embeddings']).requires_grad_(True)
        loss, logits, accuracy = prototypical(s, q, c['way'])
        loss.backward()
        for key, value in (('loss', loss.item()), ('logits', logits.tolist()), ('accuracy', accuracy.item()),
                           ('grad_support', s.grad.tolist()), ('grad_query', q.grad.tolist())):
            err = rel(value, c[key])
            worst = max(worst, err)
            print(f'protonet {c["way"]}w{c["shot"]}s{c["query"]}q {key:14s} {err:.2e}')
    print(f'largest relative difference: {worst:.2e}')
    return worst


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == '--check':
        sys.exit(0 if check(sys.argv[2]) < 1e-10 else 1)
    make()
