"""Train a small MLP with dropout on two interleaved spirals, with only NumPy and fastdrop.

    python examples/train_mlp.py            # about ten seconds
    python examples/train_mlp.py --epochs 50 --p 0.2

Shows the whole loop: data, model, loss, backward, optimizer, train/eval
modes, saving and loading the weights, and Monte Carlo dropout for an
uncertainty estimate.
"""
import argparse
import os
import sys
import tempfile

import numpy as np

import fastdrop as fd
from fastdrop import graph as G


def two_spirals(n_per_class, noise, rng):
    """Two interleaved spiral arms, 1.5 turns each; label = arm."""
    t = np.sqrt(rng.uniform(0.05, 1.0, n_per_class)) * 3 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * np.pi)
    x = np.concatenate([arm, -arm]) + rng.normal(0.0, noise, (2 * n_per_class, 2))
    y = np.repeat([0, 1], n_per_class)
    return x.astype(np.float32), y


def accuracy(model, x, y):
    model.eval()
    predicted = np.argmax(model(x), axis=1)
    model.train()
    return float(np.mean(predicted == y))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--p", type=float, default=0.1, help="dropout probability of the hidden layers")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    x_train, y_train = two_spirals(500, 0.03, rng)
    x_test, y_test = two_spirals(200, 0.03, rng)

    # 2 -> 128 -> 128 -> 2; dropout after each hidden ReLU.  One fastdrop
    # generator for the masks makes the whole run repeatable from the seed.
    masks = fd.Generator(args.seed)
    model = G.Sequential([
        G.Linear(2, 128, rng=rng), G.ReLU(), G.Dropout(args.p, generator=masks),
        G.Linear(128, 128, rng=rng), G.ReLU(), G.Dropout(args.p, generator=masks),
        G.Linear(128, 2, rng=rng),
    ])
    optimizer = G.Adam(model.parameters(), lr=3e-3)

    batch = 50
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            optimizer.zero_grad()
            loss, dlogits = G.softmax_cross_entropy(model(x_train[idx]), y_train[idx])
            model.backward(dlogits)
            optimizer.step()
        if epoch % max(1, args.epochs // 10) == 0 or epoch == args.epochs:
            print(f"epoch {epoch:4d}  loss {loss:.4f}  train accuracy {accuracy(model, x_train, y_train):.3f}")

    test_acc = accuracy(model, x_test, y_test)
    print(f"test accuracy {test_acc:.3f}")

    # Save the weights and load them into a fresh model of the same shape.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "spirals.npz")
        G.save(model, path)
        copy = G.Sequential([G.Linear(2, 128), G.ReLU(), G.Dropout(args.p),
                             G.Linear(128, 128), G.ReLU(), G.Dropout(args.p), G.Linear(128, 2)])
        G.load(copy, path)
    print(f"reloaded model's test accuracy {accuracy(copy, x_test, y_test):.3f}")

    # Monte Carlo dropout: the spread of 30 stochastic predictions is larger
    # far from the data (the origin's surroundings are ambiguous, the
    # corners of the box have no data at all) than on the spiral arms.
    if args.p > 0:
        probes = np.array([[0.0, 0.0], [0.9, 0.9], x_test[0], x_test[-1]], np.float32)
        mean, std = G.mc_predict(model, probes, T=30)
        for point, m, s in zip(probes, mean, std):
            print(f"MC dropout at ({point[0]:+.2f}, {point[1]:+.2f}): "
                  f"P(arm 1) = {m[1]:.3f} +- {s[1]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
