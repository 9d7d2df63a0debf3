#!/usr/bin/env python3
"""The training step of tools/bench/train-step-net.mjs, in PyTorch (NCHW).

Same layers, init bounds, GDN reparametrisation, noise and loss; used by
tools/bench/train-step-torch.mjs (config "pytorch") as the reference time.
Run with Debian's interpreter: /usr/bin/python3 (python3-torch 1.13).
Prints one JSON line: median seconds per forward + backward + Adam step.
"""
import argparse
import json
import math
import os
import statistics
import time

import torch
import torch.nn.functional as F


def uniform(shape, fan_in):
    bound = 1 / math.sqrt(fan_in)
    return torch.nn.Parameter(torch.empty(shape).uniform_(-bound, bound))


class Conv(torch.nn.Module):
    def __init__(self, cin, cout, k):
        super().__init__()
        self.weight = uniform((cout, cin, k, k), cin * k * k)
        self.bias = uniform((cout,), cin * k * k)
        self.k = k

    def forward(self, x, stride):
        return F.conv2d(x, self.weight, self.bias, stride, self.k // 2)


class Deconv(torch.nn.Module):
    def __init__(self, cin, cout, k):
        super().__init__()
        self.weight = uniform((cin, cout, k, k), cout * k * k)
        self.bias = uniform((cout,), cout * k * k)
        self.k = k

    def forward(self, x, stride):
        return F.conv_transpose2d(x, self.weight, self.bias, stride, self.k // 2, output_padding=stride - 1)


class Gdn(torch.nn.Module):
    def __init__(self, c, inverse):
        super().__init__()
        self.beta = torch.nn.Parameter(torch.ones(c))
        self.gamma = torch.nn.Parameter(torch.sqrt(0.1 * torch.eye(c) + 1e-12).reshape(c, c, 1, 1))
        self.inverse = inverse

    def forward(self, x):
        norm = F.conv2d(x * x, self.gamma.square(), self.beta.square())
        return x * (torch.sqrt(norm) if self.inverse else torch.rsqrt(norm))


class Net(torch.nn.Module):
    def __init__(self, N, M):
        super().__init__()
        self.g_a = torch.nn.ModuleList([Conv(3, N, 5), Conv(N, N, 5), Conv(N, N, 5), Conv(N, M, 5)])
        self.gdn_a = torch.nn.ModuleList([Gdn(N, False) for _ in range(3)])
        self.h_a = torch.nn.ModuleList([Conv(M, N, 3), Conv(N, N, 5), Conv(N, N, 5)])
        self.h_s = torch.nn.ModuleList([Deconv(N, N, 5), Deconv(N, N, 5), Conv(N, M, 3)])
        self.g_s = torch.nn.ModuleList([Deconv(M, N, 5), Deconv(N, N, 5), Deconv(N, N, 5), Deconv(N, 3, 5)])
        self.gdn_s = torch.nn.ModuleList([Gdn(N, True) for _ in range(3)])
        self.z_log_scale = torch.nn.Parameter(torch.zeros(N))

    def loss(self, x, lam=0.01):
        n, _, h, w = x.shape
        y = x
        for i, layer in enumerate(self.g_a):
            y = layer(y, 2)
            if i < 3:
                y = self.gdn_a[i](y)
        z = F.relu(self.h_a[0](y.abs(), 1))
        z = F.relu(self.h_a[1](z, 2))
        z = self.h_a[2](z, 2)
        z_tilde = z + torch.empty_like(z).uniform_(-0.5, 0.5)
        hyper = F.relu(self.h_s[0](z_tilde, 2))
        hyper = F.relu(self.h_s[1](hyper, 2))
        scales = torch.clamp(F.relu(self.h_s[2](hyper, 1)), min=0.11)
        y_tilde = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        x_hat = y_tilde
        for i, layer in enumerate(self.g_s):
            x_hat = layer(x_hat, 2)
            if i < 3:
                x_hat = self.gdn_s[i](x_hat)
        bits = logistic_bits(y_tilde, 1 / scales) + logistic_bits(z_tilde, self.z_log_scale.exp().reshape(1, -1, 1, 1))
        bpp = bits / (n * h * w)
        return lam * 255**2 * F.mse_loss(x_hat, x) + bpp


def logistic_bits(v, inv_scale):
    p = torch.sigmoid((v + 0.5) * inv_scale) - torch.sigmoid((v - 0.5) * inv_scale)
    return -torch.log(torch.clamp(p, min=1e-9)).sum() / math.log(2)


def main():
    parser = argparse.ArgumentParser()
    for name, default in [("N", 128), ("M", 192), ("batch", 8), ("size", 128), ("steps", 3), ("warmup", 1), ("threads", 2)]:
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--channels-last", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)  # Debian's build starts with 1 thread
    torch.manual_seed(1)
    net = Net(args.N, args.M)
    x = torch.rand(args.batch, 3, args.size, args.size)
    if args.channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    times = []
    for i in range(args.warmup + args.steps):
        began = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = net.loss(x)
        loss.backward()
        optimizer.step()
        value = loss.item()
        if i >= args.warmup:
            times.append(time.perf_counter() - began)
    print(json.dumps({
        "config": "pytorch" + ("-channels-last" if args.channels_last else ""),
        "N": args.N, "M": args.M, "batch": args.batch, "size": args.size, "steps": args.steps, "warmup": args.warmup,
        "medianS": round(statistics.median(times), 3), "minS": round(min(times), 3), "timesS": [round(t, 3) for t in times],
        "loss": round(value, 3), "torchThreads": torch.get_num_threads(), "torchVersion": torch.__version__,
        "ompWaitPolicy": os.environ.get("OMP_WAIT_POLICY"),
    }))


if __name__ == "__main__":
    main()
