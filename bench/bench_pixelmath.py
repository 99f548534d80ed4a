"""Benchmark PixelMath against plain numpy on three real corpus expressions.

For each expression, the same computation is written once as a PixelMath expression (run
through procfw's PixelMath process) and once as a direct numpy translation; both run on
the same float32 images in the same process.  Printed: wall time (best of ``--repeat``),
the ratio ours/numpy, and peak memory allocated during each run (tracemalloc).

    python bench/bench_pixelmath.py                  # 6000x4000 RGB, as in the issue
    python bench/bench_pixelmath.py --size 1500x1000 # quick
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from processes.kernels.robust import MAD_TO_SIGMA
from processes.pixelmath import PixelMath
from procfw.image import Image
from procfw.process import ExecutionContext
from procfw.workspace import Workspace

# -- the three corpus expressions (shared/corpus/pixelmath/expressions.txt) ------------------
FORAXX_SHO = dict(  # [1] ForaxX_SHO: Foraxx dynamic SHO palette, one expression per channel
    expression="(Oiii^~Oiii)*Sii + ~(Oiii^~Oiii)*Ha",
    expression1="((Oiii*Ha)^~(Oiii*Ha))*Ha + ~((Oiii*Ha)^~(Oiii*Ha))*Oiii",
    expression2="Oiii",
    useSingleExpression=False,
)
HT_STRETCH = dict(  # [16] HT_Stretch_Unlinked: Bill Blanshan's unlinked STF-style stretch
    expression=(
        "C = -2.8; B = 0.20;\n"
        "c = min(max(0,med($T)+C*1.4826*mdev($T)),1);\n"
        "mtf(mtf(B,med($T)-c),max(0,($T-c)/~c))"
    ),
    symbols="C,B,c",
)
MAGENTA = dict(  # [30] PixInsight forum: remove magenta stars in SHO
    expression="$T[0]",
    expression1="iif(min($T[0],$T[2])>$T[1],min($T[0],$T[2]),$T[1])",
    expression2="$T[2]",
    useSingleExpression=False,
)


def _mtf(m, x):  # type: ignore[no-untyped-def]
    return (m - 1) * x / ((2 * m - 1) * x - m)


def numpy_foraxx(images: dict[str, np.ndarray]) -> np.ndarray:
    """ForaxX_SHO translated literally to numpy."""
    ha, oiii, sii = images["Ha"][0], images["Oiii"][0], images["Sii"][0]
    r = (oiii ** (1 - oiii)) * sii + (1 - oiii ** (1 - oiii)) * ha
    g = ((oiii * ha) ** (1 - oiii * ha)) * ha + (1 - (oiii * ha) ** (1 - oiii * ha)) * oiii
    return np.clip(np.stack([r, g, oiii]), 0, 1)


def numpy_ht_stretch(images: dict[str, np.ndarray]) -> np.ndarray:
    """HT_Stretch_Unlinked translated to numpy (per-channel median and MAD)."""
    t = images["target"]
    med = np.array([np.median(channel) for channel in t]).reshape(3, 1, 1)
    mad = np.array([np.median(np.abs(channel - m)) for channel, m in zip(t, med)]).reshape(3, 1, 1)
    c = np.clip(med + -2.8 * MAD_TO_SIGMA * mad, 0, 1)
    m = _mtf(0.2, med - c)
    x = np.maximum(0, (t - c) / (1 - c))
    return np.clip(_mtf(m, np.clip(x, 0, 1)), 0, 1)


def numpy_magenta(images: dict[str, np.ndarray]) -> np.ndarray:
    """The magenta-star fix translated to numpy."""
    t = images["target"]
    g = np.where(np.minimum(t[0], t[2]) > t[1], np.minimum(t[0], t[2]), t[1])
    return np.clip(np.stack([t[0], g, t[2]]), 0, 1)


CASES: list[tuple[str, dict, Callable[[dict[str, np.ndarray]], np.ndarray]]] = [
    ("ForaxX_SHO (per channel, mono Ha/Oiii/Sii)", FORAXX_SHO, numpy_foraxx),
    ("HT_Stretch_Unlinked (RGB, med/mdev/mtf)", HT_STRETCH, numpy_ht_stretch),
    ("Magenta stars (per channel, iif/min)", MAGENTA, numpy_magenta),
]


def _measure(func: Callable[[], np.ndarray], repeat: int) -> tuple[float, float, np.ndarray]:
    best = float("inf")
    result = None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
        del result
    gc.collect()
    tracemalloc.start()
    result = func()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best, peak, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="6000x4000", help="image size WxH (default 6000x4000)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per case (best is reported)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    rng = np.random.default_rng(42)
    workspace = Workspace()
    images: dict[str, np.ndarray] = {}
    target = Image(rng.random((3, height, width), dtype=np.float32))
    workspace.add_image(target, "target")
    images["target"] = target.pixels
    for name in ("Ha", "Oiii", "Sii"):
        pixels = rng.random((1, height, width), dtype=np.float32)
        workspace.add_image(Image(pixels), name)
        images[name] = pixels
    context = ExecutionContext(workspace=workspace, view_id="target")
    frame_mb = 3 * height * width * 4 / 2**20

    print(f"PixelMath vs numpy on {width}x{height} RGB float32 ({frame_mb:.0f} MiB per RGB frame), "
          f"best of {args.repeat}")
    print(f"{'expression':46s} {'ours s':>8s} {'numpy s':>8s} {'ratio':>6s} {'ours MiB':>9s} {'numpy MiB':>9s}")
    for label, params, baseline in CASES:
        instance = PixelMath(**params)

        def ours(instance: PixelMath = instance) -> np.ndarray:
            return instance.apply(target, context).image.pixels

        t_ours, m_ours, r_ours = _measure(ours, args.repeat)
        t_np, m_np, r_np = _measure(lambda baseline=baseline: baseline(images), args.repeat)
        error = float(np.max(np.abs(r_ours.astype(np.float64) - r_np)))
        print(f"{label:46s} {t_ours:8.3f} {t_np:8.3f} {t_ours / t_np:6.2f} {m_ours / 2**20:9.0f} "
              f"{m_np / 2**20:9.0f}   max |diff| {error:.1e}")


if __name__ == "__main__":
    main()
