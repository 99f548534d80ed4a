"""Benchmark: Deconvolution (Richardson–Lucy) against the same maths written plainly.

The plain version is what a scipy user would write: per iteration
``u *= fftconvolve(f / fftconvolve(u, P, "same"), P[::-1, ::-1], "same")`` on the float32
plane (no edge extension).  Ours is :class:`Deconvolution` (the same PSF, a DCT or float32
real FFTs with the PSF's transfer function computed once, symmetric edges; all cores via
``scipy.fft``'s workers).

With ``--regularization`` both sides regularize, with PixInsight's defaults (two layers,
thresholds 3 and 2 σ_j, noise reduction 1 and 0.5, the B3 spline): ours is
:class:`Deconvolution` with ``useRegularization=true``; the plain side adds to every
iteration the same starlet regularization written plainly with ``scipy.ndimage``: the
residual ``r = f − P∗u`` smoothed level by level by ``correlate1d`` along both axes with the
B3 taps ``2^j`` pixels apart (``reflect`` edges, as ours), each layer ``c_{j−1} − c_j``
hard-thresholded by ``np.where(|w| < k_j·σ·σ_j, (1 − a_j)·w, w)``, the layers and the last
level added up to ``r'``, and ``u *= Pᵀ∗max(0, r'/P∗u + 1)``; σ is the MAD/0.6745 of the
observed plane's first layer over σ_1, and σ_j the layers' noise for unit white noise
(from the impulse response), both computed once, as ours.  Each side runs in its own
child process, so that its peak RSS (``ru_maxrss``) is its own; the script prints wall
times, the ratio ours/plain, and the peak RSS above the child's RSS after imports and a
warm-up run on a 64² image (which loads numba's compiled kernels: a fixed ~50 MiB) in units
of the image's size; that includes the input image and the bench's making of it (2×).

    python bench/bench_deconvolution.py [--size 4096] [--iterations 50] [--regularization]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
from scipy import ndimage, signal


def _rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _image(size: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    plane = rng.standard_normal((size, size), dtype=np.float32)
    plane *= np.float32(0.002)
    plane += np.float32(0.05)
    stars = rng.integers(0, size * size, size=size * size // 4000)
    plane.ravel()[stars] = rng.uniform(0.1, 1.0, stars.size).astype(np.float32)
    plane = ndimage.gaussian_filter(plane, 2.0)
    return np.clip(plane, 0, 1, out=plane)


_B3 = np.array([1, 4, 6, 4, 1], dtype=np.float32) / 16
_LAYERS = ((3.0, 1.0), (2.0, 0.5))  # PixInsight's default waveletLayers: (threshold k_j, noise reduction a_j)


def _smooth(plane: np.ndarray, j: int) -> np.ndarray:
    """Level j + 1 of the starlet: the B3 spline with its taps 2^j apart, along both axes."""
    taps = np.zeros(4 * 2**j + 1, dtype=np.float32)
    taps[:: 2**j] = _B3
    return ndimage.correlate1d(ndimage.correlate1d(plane, taps, axis=0, mode="reflect"), taps, axis=1,
                               mode="reflect")


def _plain_regularized(plane: np.ndarray, psf: np.ndarray, iterations: int) -> np.ndarray:
    """Richardson–Lucy with the starlet regularization of the residual, written plainly."""
    impulse = np.zeros((65, 65), dtype=np.float32)
    impulse[32, 32] = 1
    noise, level = [], impulse
    for j in range(len(_LAYERS)):
        smoother = _smooth(level, j)
        noise.append(float(np.sqrt(np.sum((level - smoother) ** 2))))
        level = smoother
    sigma = float(np.median(np.abs(plane - _smooth(plane, 0)))) / 0.6745 / noise[0]
    flipped = psf[::-1, ::-1]
    out = plane.copy()
    for _ in range(iterations):
        blurred = signal.fftconvolve(out, psf, mode="same")
        level = plane - blurred
        regularized = np.zeros_like(level)
        for j, (k, amount) in enumerate(_LAYERS):
            smoother = _smooth(level, j)
            layer = level - smoother
            regularized += np.where(np.abs(layer) < k * sigma * noise[j], (1 - amount) * layer, layer)
            level = smoother
        regularized += level
        ratio = np.maximum(regularized / np.maximum(blurred, 1e-12) + 1, 0)
        out *= signal.fftconvolve(ratio, flipped, mode="same")
    return out


def _child(mode: str, size: int, iterations: int, regularization: bool) -> None:
    from processes.deconvolution.deconvolution import Deconvolution
    from processes.multiscale.convolution import variable_shape_kernel
    from procfw.image import Image
    from procfw.process import ExecutionContext

    psf = variable_shape_kernel(2.0).astype(np.float32)

    def run(plane: np.ndarray, iterations: int) -> np.ndarray:
        if mode == "ours":
            process = Deconvolution(numberOfIterations=iterations, psfSigma=2.0, useRegularization=regularization)
            return process.apply(Image(plane[None]), ExecutionContext()).image.pixels[0]
        if regularization:
            return _plain_regularized(plane, psf, iterations)
        flipped = psf[::-1, ::-1]
        out = plane.copy()
        for _ in range(iterations):
            blurred = signal.fftconvolve(out, psf, mode="same")
            out *= signal.fftconvolve(plane / np.maximum(blurred, 1e-12), flipped, mode="same")
        return out

    run(_image(64), 1)  # warm-up: compiled kernels loaded (numba's runtime is ~50 MiB, whatever the image)
    base = _rss_mib()
    plane = _image(size)
    start = time.perf_counter()
    out = run(plane, iterations)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    image_mib = plane.nbytes / 2**20
    print(json.dumps({"mode": mode, "seconds": seconds, "peak_rss_mib": peak, "base_rss_mib": base,
                      "image_mib": image_mib, "above_base_images": (peak - base) / image_mib,
                      "dtype": str(out.dtype)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--regularization", action="store_true", help="both with the starlet regularization")
    parser.add_argument("--child", choices=("ours", "plain"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.size, args.iterations, args.regularization)
        return
    results = {}
    for mode in ("ours", "plain"):
        command = [sys.executable, __file__, "--child", mode, "--size", str(args.size),
                   "--iterations", str(args.iterations)] + (["--regularization"] if args.regularization else [])
        results[mode] = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        r = results[mode]
        print(f"{mode:5s}: {r['seconds']:8.2f} s  peak RSS {r['peak_rss_mib']:7.0f} MiB "
              f"({r['above_base_images']:.2f}x the {r['image_mib']:.0f} MiB image above the "
              f"{r['base_rss_mib']:.0f} MiB after imports and warm-up)")
    print(f"ratio ours/plain: {results['ours']['seconds'] / results['plain']['seconds']:.3f}")


if __name__ == "__main__":
    main()
