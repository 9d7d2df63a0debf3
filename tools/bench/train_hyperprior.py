#!/usr/bin/env python3
"""The project's training step (@psic/train trainStep on a bmshj2018-hyperprior)
written in PyTorch, for `npm run bench:train`.

Same architecture as @psic/backbone-hyperprior (CompressAI's layout: g_a with
GDN, h_a on |y|, h_s with ReLU, g_s with inverse GDN; GDN with the
non-negative reparametrisation; a factorized EntropyBottleneck with filters
(3, 3, 3, 3) and quantiles; a Gaussian conditional with scale bound 0.11 and
likelihood bound 1e-9), same loss (lambda * 255^2 * MSE + bpp), same step:
forward, backward, global-norm clipping at 1, Adam on the main parameters,
then the auxiliary (quantile) loss and its own Adam step. Additive uniform
noise on y and z.

Run with Debian's interpreter: /usr/bin/python3 (python3-torch 1.13).
Prints one JSON line: median seconds per step after the warm-up steps.
"""
import argparse
import json
import math
import os
import statistics
import time

import torch
import torch.nn.functional as F

REPARAM_OFFSET = 2.0 ** -18


class NonNegative(torch.nn.Module):
    """GDN's reparametrisation: stored v, used max(v, bound)^2 - pedestal."""

    def __init__(self, init, minimum=0.0):
        super().__init__()
        self.pedestal = REPARAM_OFFSET ** 2
        self.bound = (minimum + self.pedestal) ** 0.5
        self.value = torch.nn.Parameter(torch.sqrt(torch.clamp(init + self.pedestal, min=self.pedestal)))

    def forward(self):
        return torch.clamp(self.value, min=self.bound) ** 2 - self.pedestal


class Gdn(torch.nn.Module):
    def __init__(self, c, inverse):
        super().__init__()
        self.beta = NonNegative(torch.ones(c), minimum=1e-6)
        self.gamma = NonNegative(0.1 * torch.eye(c))
        self.inverse = inverse

    def forward(self, x):
        c = x.shape[1]
        norm = F.conv2d(x * x, self.gamma().reshape(c, c, 1, 1), self.beta())
        return x * (torch.sqrt(norm) if self.inverse else torch.rsqrt(norm))


def conv(cin, cout, k=5, stride=2):
    return torch.nn.Conv2d(cin, cout, k, stride, k // 2)


def deconv(cin, cout, k=5, stride=2):
    return torch.nn.ConvTranspose2d(cin, cout, k, stride, k // 2, output_padding=stride - 1)


class EntropyBottleneck(torch.nn.Module):
    """Ballé 2018's factorized density, CompressAI's parametrisation."""

    def __init__(self, channels, filters=(3, 3, 3, 3), init_scale=10.0, tail_mass=1e-9):
        super().__init__()
        dims = (1,) + tuple(filters) + (1,)
        scale = init_scale ** (1 / (len(filters) + 1))
        self.matrices = torch.nn.ParameterList()
        self.biases = torch.nn.ParameterList()
        self.factors = torch.nn.ParameterList()
        for i in range(len(filters) + 1):
            init = math.log(math.expm1(1 / scale / dims[i + 1]))
            self.matrices.append(torch.nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(torch.nn.Parameter(torch.rand(channels, dims[i + 1], 1) - 0.5))
            if i < len(filters):
                self.factors.append(torch.nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))
        t = -math.log(2 / tail_mass - 1)
        self.quantiles = torch.nn.Parameter(torch.tensor([-init_scale, 0.0, init_scale]).repeat(channels, 1, 1))
        self.register_buffer("target", torch.tensor([-t, 0.0, t]))

    def logits_cumulative(self, v, stop_gradient):
        logits = v
        for i in range(len(self.matrices)):
            matrix = F.softplus(self.matrices[i].detach() if stop_gradient else self.matrices[i])
            logits = torch.matmul(matrix, logits)
            logits = logits + (self.biases[i].detach() if stop_gradient else self.biases[i])
            if i < len(self.factors):
                factor = torch.tanh(self.factors[i].detach() if stop_gradient else self.factors[i])
                logits = logits + factor * torch.tanh(logits)
        return logits

    def forward(self, z):
        n, c, h, w = z.shape
        z_tilde = z + torch.empty_like(z).uniform_(-0.5, 0.5)
        v = z_tilde.permute(1, 0, 2, 3).reshape(c, 1, -1)
        lower = self.logits_cumulative(v - 0.5, False)
        upper = self.logits_cumulative(v + 0.5, False)
        sign = -torch.sign(lower + upper).detach()
        likelihood = torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))
        likelihood = torch.clamp(likelihood, min=1e-9).reshape(c, n, h, w).permute(1, 0, 2, 3)
        return z_tilde, likelihood

    def aux_loss(self):
        return torch.abs(self.logits_cumulative(self.quantiles, True) - self.target).sum()


def gaussian_likelihood(y_tilde, scales):
    scales = torch.clamp(scales, min=0.11)
    v = torch.abs(y_tilde)
    upper = 0.5 * torch.erfc(-(0.5 - v) / scales / math.sqrt(2))
    lower = 0.5 * torch.erfc(-(-0.5 - v) / scales / math.sqrt(2))
    return torch.clamp(upper - lower, min=1e-9)


class Hyperprior(torch.nn.Module):
    def __init__(self, N, M):
        super().__init__()
        self.g_a = torch.nn.Sequential(conv(3, N), Gdn(N, False), conv(N, N), Gdn(N, False), conv(N, N), Gdn(N, False), conv(N, M))
        self.g_s = torch.nn.Sequential(deconv(M, N), Gdn(N, True), deconv(N, N), Gdn(N, True), deconv(N, N), Gdn(N, True), deconv(N, 3))
        self.h_a = torch.nn.Sequential(conv(M, N, 3, 1), torch.nn.ReLU(), conv(N, N), torch.nn.ReLU(), conv(N, N))
        self.h_s = torch.nn.Sequential(deconv(N, N), torch.nn.ReLU(), deconv(N, N), torch.nn.ReLU(), conv(N, M, 3, 1), torch.nn.ReLU())
        self.entropy_bottleneck = EntropyBottleneck(N)

    def loss(self, x, lam):
        n, _, h, w = x.shape
        y = self.g_a(x)
        z = self.h_a(torch.abs(y))
        z_tilde, z_likelihood = self.entropy_bottleneck(z)
        scales = self.h_s(z_tilde)
        y_tilde = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        y_likelihood = gaussian_likelihood(y_tilde, scales)
        x_hat = self.g_s(y_tilde)
        bpp = (torch.log(y_likelihood).sum() + torch.log(z_likelihood).sum()) / (-math.log(2) * n * h * w)
        return lam * 255 ** 2 * F.mse_loss(x_hat, x) + bpp


def main():
    parser = argparse.ArgumentParser()
    for name, default in [("N", 128), ("M", 192), ("batch", 8), ("size", 128), ("steps", 5), ("warmup", 2), ("threads", 2)]:
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--lam", type=float, default=0.0067)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)  # Debian's build starts with 1 thread
    torch.manual_seed(1)
    net = Hyperprior(args.N, args.M)
    aux_params = [net.entropy_bottleneck.quantiles]
    main_params = [p for p in net.parameters() if p is not net.entropy_bottleneck.quantiles]
    main_opt = torch.optim.Adam(main_params, lr=1e-4)
    aux_opt = torch.optim.Adam(aux_params, lr=1e-3)
    x = torch.rand(args.batch, 3, args.size, args.size)
    times = []
    for i in range(args.warmup + args.steps):
        began = time.perf_counter()
        main_opt.zero_grad(set_to_none=True)
        aux_opt.zero_grad(set_to_none=True)
        loss = net.loss(x, args.lam)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(main_params, 1.0)
        main_opt.step()
        aux = net.entropy_bottleneck.aux_loss()
        aux.backward()
        aux_opt.step()
        value = loss.item()
        if i >= args.warmup:
            times.append(time.perf_counter() - began)
    print(json.dumps({
        "bench": "train-step", "runtime": "pytorch", "N": args.N, "M": args.M, "batch": args.batch, "crop": args.size,
        "steps": args.steps, "median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
        "loss": round(value, 3), "torch_threads": torch.get_num_threads(), "torch_version": torch.__version__,
        "blas": blas_name(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }))


def blas_name():
    config = torch.__config__.show()
    for name in ("OpenBLAS", "MKL", "BLIS"):
        if name.lower() in config.lower():
            return name
    return "unknown"


if __name__ == "__main__":
    main()
