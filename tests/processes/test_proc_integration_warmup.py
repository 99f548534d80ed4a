"""ImageIntegration's kernel warm-up (processes.integration.warmup) loads the specializations a real
integration calls: after it, an integration with frame statistics, BWMV scale, rejection maps, a
float32 result and its MRS noise (evaluateSNR) loads no further compiled specialization."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import numpy as np
    from procfw.image import Image
    from procfw.io.fits import write_fits
    from procfw.registry import processes
    from procfw.workspace import Workspace
    from processes.integration import kernel_numba
    from processes.kernels import noise_nb
    from processes.integration.warmup import warm_kernels

    folder = Path(sys.argv[1])
    rng = np.random.default_rng(3)
    paths = []
    for i in range(4):
        frame = (0.2 + 0.01 * rng.standard_normal((3, 300, 280))).astype(np.float32)
        frame[:, :, : 2 * i] = 0  # registration borders
        paths.append(str(folder / f"f{i}.fits"))
        write_fits(Image(np.clip(frame, 0, 1)), paths[-1])
    warm_kernels()
    kernels = {f"{m.__name__}.{n}": getattr(m, n) for m in (kernel_numba, noise_nb) for n in dir(m)
               if hasattr(getattr(m, n), "signatures")}
    warm = {n: [str(s) for s in f.signatures] for n, f in kernels.items()}
    process = processes.get("ImageIntegration").from_parameters({
        "images": paths, "rejection": "WinsorizedSigmaClip", "normalization": "AdditiveWithScaling",
        "rejectionNormalization": "Scale", "weightMode": "SNREstimate", "weightScale": "WeightScale_BWMV",
        "evaluateSNR": True, "rangeClipLow": True, "rangeLow": 0.0, "generateRejectionMaps": True,
        "useCache": False})
    process.execute_global(Workspace())
    after = {n: [str(s) for s in f.signatures] for n, f in kernels.items()}
    print(json.dumps({"warm": warm, "after": after}))
""")


def test_warm_up_loads_every_specialization_an_integration_uses(tmp_path):
    done = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    warm, after = result["warm"], result["after"]
    kernel = "processes.integration.kernel_numba."
    assert warm[kernel + "integrate_rows"] and warm[kernel + "masked_values"] and warm[kernel + "abs_dev_median"]
    added = {n: sorted(set(after[n]) - set(warm[n])) for n in after if set(after[n]) - set(warm[n])}
    assert not added, added
    used = {n.rsplit(".", 1)[1] for n in after if after[n]}
    assert {"integrate_rows", "masked_values", "median_between", "abs_dev_median", "bwmv_sums", "mrs_planes",
            "below_moments"} <= used
