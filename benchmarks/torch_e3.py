"""The course's PyTorch code for E3 (batch vs stochastic vs mini-batch), as the speed reference.

Run as a script it does what the course's notebook cell does (three models, 1000 single-batch
"epochs" each, tqdm bars) minus the plots; :func:`train_mode` is the same loop, importable so
``benchmarks/batch_modes.py`` can time its steady state.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn as nn
from tqdm import tqdm

NAMES = ["Batch", "Stochastic", "Minibatch"]
BATCH_SIZES = [1000, 1, 128]
MOMENTA = [1, 0, 1]
LEARNING_RATE = 0.0001


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden1 = nn.Linear(1, 32)
        self.hidden2 = nn.Linear(32, 32)
        self.output = nn.Linear(32, 1)

    def forward(self, x):
        x = torch.relu(self.hidden1(x))
        x = torch.relu(self.hidden2(x))
        return self.output(x)


def make_dataset(n_samples: int = 1000):
    np.random.seed(0)
    x = np.linspace(-5, 5, n_samples)
    y = 0.3 * (x**2) + np.random.randn(n_samples)
    x = torch.unsqueeze(torch.from_numpy(x).float(), 1)
    y = torch.unsqueeze(torch.from_numpy(y).float(), 1)
    return torch.utils.data.TensorDataset(x, y)


def train_mode(dataset, batch_size: int, momentum: float, n_epochs: int, progress: bool = False, name: str = ""):
    """The course's loop: each 'epoch' is next(iter(DataLoader(shuffle=True))), one SGD step."""
    model = Model()
    loss_fn = nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=momentum)
    dataloader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True)
    losses = []
    for _ in tqdm(range(n_epochs), desc=name, disable=not progress):
        inputs, targets = next(iter(dataloader))
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def main() -> None:
    dataset = make_dataset()
    began = time.perf_counter()
    for name, batch_size, momentum in zip(NAMES, BATCH_SIZES, MOMENTA):
        train_mode(dataset, batch_size, momentum, 1000, progress=True, name=name)
    print(f"torch E3: {time.perf_counter() - began:.2f} s")


if __name__ == "__main__":
    main()
