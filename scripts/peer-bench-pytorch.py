"""The PyTorch peer of `fewshot bench`: one training step of a Prototypical Network (Conv-4, 64
filters, batch norm, Adam) on the same episode shapes, median of 5 timed steps after 2 s of warm-up.
A measuring tool, never a dependency: Debian's python3-torch, run by scripts/peer-bench.sh with
tcmalloc preloaded (without it this VM's page faults make PyTorch 6-7x slower).

    /usr/bin/python3 scripts/peer-bench-pytorch.py [--threads 2] [--shapes a,b]   -> one JSON line per shape
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# The same shapes as src/bench/bench.ts: name -> (way, shot, query, height, width, channels).
SHAPES = {
    "omniglot-60w5s5q": (60, 5, 5, 28, 28, 1),
    "omniglot-5w1s15q": (5, 1, 15, 28, 28, 1),
    "miniimagenet-5w5s15q": (5, 5, 15, 84, 84, 3),
    "miniimagenet-20w5s15q": (20, 5, 15, 84, 84, 3),
    "miniimagenet-30w1s15q": (30, 1, 15, 84, 84, 3),
    "cifar-5w1s15q": (5, 1, 15, 32, 32, 3),
    "cifar-5w5s15q": (5, 5, 15, 32, 32, 3),
}


def conv4(channels, width=64):
    def block(cin):
        return nn.Sequential(nn.Conv2d(cin, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2))

    return nn.Sequential(block(channels), block(width), block(width), block(width), nn.Flatten())


def prototypical_loss(embeddings, way, shot, query):
    support = embeddings[: way * shot].view(way, shot, -1).mean(1)
    queries = embeddings[way * shot :]
    logits = -torch.cdist(queries, support).pow(2)
    labels = torch.arange(way).repeat_interleave(query)
    return F.cross_entropy(logits, labels)


def time_ms(step, repeats, warm_up_s=2.0):
    end = time.perf_counter() + warm_up_s
    step()
    while time.perf_counter() < end:
        step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def bench(name, repeats):
    way, shot, query, h, w, c = SHAPES[name]
    torch.manual_seed(0)
    model = conv4(c)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(way * (shot + query), c, h, w)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = prototypical_loss(model(x), way, shot, query)
        loss.backward()
        optimizer.step()
        loss.item()

    ms = time_ms(step, repeats)
    return {
        "name": name,
        "trainStepMs": ms,
        "images": x.shape[0],
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "peakRssMB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--shapes", default=",".join(SHAPES))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name in args.shapes.split(","):
        if name not in SHAPES:
            raise SystemExit(f"--shapes: unknown shape {name!r} (known: {', '.join(SHAPES)})")
        print(json.dumps(bench(name, args.repeats)), flush=True)


if __name__ == "__main__":
    main()
