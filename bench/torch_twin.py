#!/usr/bin/env python3
"""PyTorch twin of bench/cuda_bench.cpp: the talk's MLP and CNN, trained the same way on the
same kind of data, printing lines in the same format with `pytorch` for `cotangent`:

    pytorch mlp batch=128 images_per_s=12345.6 ms_per_step=10.368 steps=200
    pytorch add1 us_per_op=4.200 ops=20000

Eager mode only (no torch.compile). The models follow include/cotangent/models/classifiers.hpp:
images are NHWC [N, 28, 28, 1]; the CNN runs its convolutions channels-last and flattens in
NHWC order (H, W, C), so its first Dense layer sees the features in the library's order.
Float32 runs as IEEE float32 (no TF32) unless --tf32 is given, as cotangent's kernels compute.
Exit status: 0, 1 when a figure failed (the rest still run), 2 without PyTorch or on bad flags.
"""
import argparse
import sys
import time

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError as error:  # the GPU machine's python3 has it; a plain CPU machine may not
    print(f"torch_twin.py: cannot import torch ({error}); run it with a python that has PyTorch",
          file=sys.stderr)
    sys.exit(2)


class MLP(nn.Module):
    """Flatten -> Dense 784->512 relu -> 512->512 relu -> 512->10."""

    def __init__(self):
        super().__init__()
        self.input_layer = nn.Linear(28 * 28, 512)
        self.hidden_layer = nn.Linear(512, 512)
        self.output_layer = nn.Linear(512, 10)

    def forward(self, images):  # [N, 28, 28, 1]
        x = images.flatten(1)
        x = F.relu(self.input_layer(x))
        x = F.relu(self.hidden_layer(x))
        return self.output_layer(x)


class CNN(nn.Module):
    """Conv 3x3 1->32 relu, conv 3x3 32->64 relu (both 'valid'), max pool 2x2 stride 2, flatten
    (H, W, C), Dense 9216->512 relu -> 512->512 relu -> 512->10."""

    def __init__(self):
        super().__init__()
        self.conv1a = nn.Conv2d(1, 32, 3)
        self.conv1b = nn.Conv2d(32, 64, 3)
        self.input_layer = nn.Linear(12 * 12 * 64, 512)
        self.hidden_layer = nn.Linear(512, 512)
        self.output_layer = nn.Linear(512, 10)

    def forward(self, images):  # [N, 28, 28, 1]
        # An NCHW view of the NHWC data: with channels_last weights the convolutions run NHWC.
        x = images.permute(0, 3, 1, 2)
        x = F.relu(self.conv1a(x))
        x = F.relu(self.conv1b(x))
        x = F.max_pool2d(x, 2, 2)
        # Back to NHWC order before flattening, as the library's Flatten on [N, 12, 12, 64].
        x = x.permute(0, 2, 3, 1).flatten(1)
        x = F.relu(self.input_layer(x))
        x = F.relu(self.hidden_layer(x))
        return self.output_layer(x)


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (default cuda)")
    p.add_argument("--steps", type=int, default=200, help="timed steps at batch 128")
    p.add_argument("--steps-1024", type=int, default=50, help="timed steps at batch 1024")
    p.add_argument("--warmup", type=int, default=20, help="untimed steps first")
    p.add_argument("--add-ops", type=int, default=20000, help="timed a + b ops")
    p.add_argument("--only", default="mlp,cnn,add1", help="comma-separated subset of mlp,cnn,add1")
    p.add_argument("--tf32", action="store_true", help="let matmuls and convolutions use TF32")
    p.add_argument("--cudnn-benchmark", action="store_true",
                   help="let cuDNN time its algorithms first (off by default, as out of the box)")
    a = p.parse_args()
    a.only = set(a.only.split(","))
    if not a.only <= {"mlp", "cnn", "add1"}:
        p.error(f"--only {','.join(sorted(a.only))}: not a subset of mlp, cnn, add1")
    if a.steps < 1 or a.steps_1024 < 1 or a.warmup < 0 or a.add_ops < 1:
        p.error("--steps, --steps-1024 and --add-ops must be 1 or more, --warmup 0 or more")
    if not (a.device == "cpu" or a.device == "cuda" or a.device.startswith("cuda:")):
        p.error(f"--device {a.device}: not one of cuda, cuda:N, cpu")
    return a


def set_tf32(enabled):
    mode = "tf32" if enabled else "ieee"
    if hasattr(torch.backends, "fp32_precision"):  # the API since PyTorch 2.9
        torch.backends.cuda.matmul.fp32_precision = mode
        torch.backends.cudnn.conv.fp32_precision = mode
    else:
        torch.backends.cuda.matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_batch(n, device):
    """One MNIST-shaped batch from a fixed seed, uploaded once: images uniform in [0, 1) as
    [n, 28, 28, 1], labels uniform in [0, 10)."""
    gen = torch.Generator().manual_seed(1234)
    images = torch.rand(n, 28, 28, 1, generator=gen)
    labels = torch.randint(0, 10, (n,), generator=gen)
    return images.to(device), labels.to(device)


def images_per_second(model_type, n, steps, warmup, device):
    torch.manual_seed(1)
    model = model_type().to(device)
    if model_type is CNN:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    images, labels = device_batch(n, device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss

    loss = None
    for _ in range(warmup):
        loss = step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        loss = step()
    last = loss.item()  # a host read, as cotangent's loss.scalar()
    synchronize(device)
    seconds = time.perf_counter() - start
    if last != last or abs(last) == float("inf"):
        print(f"# warning: final loss {last} is not finite")
    return n * steps / seconds, 1e3 * seconds / steps


def add1_microseconds(ops, device):
    a = torch.full((1,), 1.0, device=device)
    b = torch.full((1,), 2.0, device=device)
    c = None
    for _ in range(1000):
        c = a + b
    synchronize(device)
    start = time.perf_counter()
    for _ in range(ops):
        c = a + b
    value = c.item()
    synchronize(device)
    seconds = time.perf_counter() - start
    if value != 3.0:
        print(f"# warning: a + b gave {value}, not 3")
    return 1e6 * seconds / ops


def error_line(what, error):
    message = str(error).replace('"', "'").replace("\n", " ")
    print(f'pytorch {what} error="{message}"', file=sys.stderr, flush=True)


def main():
    a = parse()
    device = torch.device(a.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            print("torch_twin.py: PyTorch sees no CUDA device", file=sys.stderr)
            return 2
        set_tf32(a.tf32)
        torch.backends.cudnn.benchmark = a.cudnn_benchmark
        name = torch.cuda.get_device_name(device)
        where = (f"{device} ({name}), CUDA {torch.version.cuda}, "
                 f"cuDNN {torch.backends.cudnn.version()}, {'TF32' if a.tf32 else 'IEEE float32'}")
    else:
        where = f"cpu, {torch.get_num_threads()} threads"
    print(f"# pytorch {torch.__version__} torch_twin.py on {where} (eager); warmup {a.warmup} "
          f"steps, timed {a.steps} steps at batch 128 and {a.steps_1024} at batch 1024; "
          f"add1 {a.add_ops} ops", flush=True)
    status = 0
    # add1 first: the quickest figure survives a run cut short by a time limit.
    if "add1" in a.only:
        try:
            us = add1_microseconds(a.add_ops, device)
            print(f"pytorch add1 us_per_op={us:.3f} ops={a.add_ops}", flush=True)
        except Exception as error:
            error_line("add1", error)
            status = 1
    for name, model_type in (("mlp", MLP), ("cnn", CNN)):
        if name not in a.only:
            continue
        for n in (128, 1024):
            what = f"{name} batch={n}"
            steps = a.steps if n == 128 else a.steps_1024
            try:
                rate, ms = images_per_second(model_type, n, steps, a.warmup, device)
                print(f"pytorch {what} images_per_s={rate:.1f} ms_per_step={ms:.3f} steps={steps}",
                      flush=True)
            except Exception as error:  # one failing figure (e.g. out of memory) ends no others
                error_line(what, error)
                status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
