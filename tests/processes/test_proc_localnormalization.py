"""LocalNormalization: PixInsight's parameters, the algorithm against synthetic truth, .xnml files,
and ImageIntegration with local normalization.

Truth (tests/processes/localnorm_synthetic.py): targets are ``a(x, y)·S + b(x, y) + noise`` of a
star field S whose reference is ``S + noise``; a normalized target must match the reference
within the noise: residual RMS ≤ 1.2 × the RMS of the noise the two frames carry,
``sqrt((σ·A)² + σ²)`` with ``A = 1/a`` the exact scale.
"""

from __future__ import annotations

import base64
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage

from processes.common.xnml import LocalNormalizationData, XnmlFileError, parse_xnml, read_xnml, write_xnml
from processes.integration import ImageIntegration
from processes.kernels.bspline_grid import evaluate_rows
from processes.localnormalization.model import Settings, apply_normalization, build_normalization, prepare_reference
from processes.localnormalization.process import LocalNormalization
from procfw.errors import ExecutionError, FileExistsProcfwError
from procfw.image import Image
from procfw.io.fits import write_fits
from procfw.process import ExecutionContext
from procfw.testing import check_process
from procfw.workspace import Workspace

sys.path.insert(0, str(Path(__file__).parent))
from localnorm_synthetic import SIGMA, frames  # noqa: E402

LIMIT = 1.2
"""Residual RMS over the frames' own noise RMS that counts as "within the noise"."""


def _ratio(normalized: np.ndarray, reference: np.ndarray, a: np.ndarray) -> float:
    expected = np.sqrt(np.mean((SIGMA / a) ** 2 + SIGMA**2))
    return float(np.sqrt(np.mean((normalized - reference) ** 2)) / expected)


def _global_ratio(target: np.ndarray, reference: np.ndarray, a: np.ndarray) -> float:
    """The best plain global normalization: exact mean scale 1/mean(a), medians matched."""
    k = 1 / float(np.mean(a))
    normalized = (target - np.median(target)) * k + np.median(reference)
    return _ratio(normalized, reference, a)


# -- parameters ------------------------------------------------------------------------------------
def test_conformance():
    check_process(LocalNormalization)


def test_pixinsight_ids_defaults_and_enumerations():
    p = LocalNormalization()
    assert (p.scale, p.noScale, p.globalLocationNormalization, p.truncate) == (1024, False, False, True)
    assert (p.backgroundSamplingDelta, p.rejection, p.referenceRejection) == (32, True, False)
    assert p.lowClippingLevel == pytest.approx(4.5e-5) and p.highClippingLevel == pytest.approx(0.85)
    assert p.referenceRejectionThreshold == pytest.approx(3.0) and p.targetRejectionThreshold == pytest.approx(3.2)
    assert (p.hotPixelFilterRadius, p.noiseReductionFilterRadius, p.modelScalingFactor) == (2, 0, 8.0)
    assert p.scaleEvaluationMethod == "ScaleEvaluationMethod_PSFSignal"
    assert p.generateNormalizedImages == "GenerateNormalizedImages_ViewExecutionOnly"
    assert (p.generateNormalizationData, p.outputExtension, p.outputPostfix) == (True, ".xisf", "_n")
    assert (p.referenceIsView, p.overwriteExistingFiles, p.onError) == (True, False, "OnError_Continue")
    assert p.psfType == "PSFType_Auto" and p.psfMaxStars == 24576 and p.rejectionLimit == pytest.approx(0.3)
    kind = LocalNormalization.parameter("generateNormalizedImages")
    assert [kind.value_of(e) for e in kind.element_ids()] == [0, 1, 2, 3]
    assert kind.element_ids()[1] == "GenerateNormalizedImages_Always"
    assert [c.id for c in LocalNormalization.parameter("targetItems").columns] == ["enabled", "image"]
    assert "psfRejectionLimit" in LocalNormalization.parameter("rejectionLimit").aliases
    with pytest.raises(Exception, match="scale"):
        LocalNormalization(scale=16)  # PixInsight's minimum is 32


# -- the algorithm against synthetic truth ----------------------------------------------------------------
@pytest.mark.parametrize("varying", [False, True], ids=["constant-transparency", "varying-transparency"])
def test_normalized_target_matches_reference_within_noise(varying):
    truth, reference, [(target, a, _)] = frames(1, varying=varying)
    settings = Settings(scale=128, local_scale_corrections=varying)
    model = prepare_reference(reference[None].astype(np.float32), settings)
    data, estimates = build_normalization(target[None].astype(np.float32), model, settings)
    normalized = apply_normalization(target[None], data, truncate=False)[0]
    ratio = _ratio(normalized, reference, a)
    assert ratio <= LIMIT, f"residual/noise {ratio:.3f}"
    # the global scale is the flux ratio reference/target: 1/a (mean over the field when a varies)
    assert estimates[0].scale == pytest.approx(1 / float(np.mean(a)), rel=0.03)
    # a single global normalization cannot remove b(x, y): the test can fail
    assert _global_ratio(target, reference, a) > 3


def test_matrices_have_pixinsight_geometry_and_evaluate_as_the_surface():
    _, reference, [(target, _, b)] = frames(1, varying=False)
    settings = Settings(scale=128, model_scaling_factor=8)
    data, _ = build_normalization(target[None].astype(np.float32), prepare_reference(reference[None], settings),
                                  settings)
    assert data.scale_matrices.shape == (1, 16, 16)  # 256·8/128
    # constant transparency 0.85: the scale surface is 1/0.85 everywhere, the offset is B = −b/0.85 where
    # the truth's sky cancels (A·a = 1): compare it with the exact −b/a inside the borders
    rows = np.arange(32, 224)
    assert np.allclose(evaluate_rows(data.scale_matrices[0], rows, 256, 256), 1 / 0.85, rtol=0.03)
    offset = evaluate_rows(data.offset_matrices[0], rows, 256, 256)[:, 32:224]
    exact = -b[32:224, 32:224] / 0.85
    assert np.sqrt(np.mean((offset - exact) ** 2)) < SIGMA / 2


def test_bspline_matches_pcl_formula():
    rng = np.random.default_rng(3)
    m = rng.normal(size=(5, 7))

    def b3(t):
        cube = [max(v, 0.0) ** 3 for v in (t + 2, t + 1, t, t - 1)]
        return (cube[0] - 4 * cube[1] + 6 * cube[2] - 4 * cube[3]) / 6

    width, height = 70, 50
    for y, x in [(0, 0), (17, 33), (49, 69), (25, 5)]:
        my, mx = y * 5 / height, x * 7 / width
        i1, j1 = int(my), int(mx)
        want = sum(m[min(max(i, 0), 4), min(max(j, 0), 6)] * b3(mx - j) * b3(my - i)
                   for i in range(i1 - 1, i1 + 3) for j in range(j1 - 1, j1 + 3))
        assert evaluate_rows(m, np.array([y]), width, height)[0, x] == pytest.approx(want, abs=1e-12)


# -- .xnml files --------------------------------------------------------------------------------------------
def _data(channels=1, w=6, h=4, seed=0, **kw):
    rng = np.random.default_rng(seed)
    return LocalNormalizationData(
        scale=128, reference_width=600, reference_height=400,
        scale_matrices=rng.uniform(0.5, 1.5, (channels, h, w)).astype(np.float32),
        offset_matrices=rng.normal(0, 0.01, (channels, h, w)).astype(np.float32), **kw)


@pytest.mark.parametrize("compression", [None, "lz4+sh", "lz4hc", "zlib+sh", "zstd"])
def test_xnml_round_trip(tmp_path, compression):
    data = _data(3, relative_scale_factors=[1.1, 1.2, 1.3], global_scale=[1, 1, 1],
                 reference_location=[0.1, 0.2, 0.3], target_location=[0.2, 0.2, 0.2], bias=[0, 0.001, 0],
                 reference_path="/r.xisf", target_path="/t & <x>.xisf")
    path = write_xnml(data, tmp_path / "t.xnml", compression=compression)
    back = read_xnml(path)
    assert np.array_equal(back.scale_matrices, data.scale_matrices)
    assert np.array_equal(back.offset_matrices, data.offset_matrices)
    for name in ("bias", "global_scale", "reference_location", "target_location", "relative_scale_factors"):
        assert np.array_equal(getattr(back, name), getattr(data, name))
    assert (back.target_path, back.scale, back.reference_width) == ("/t & <x>.xisf", 128, 600)
    with pytest.raises(FileExistsProcfwError):
        write_xnml(data, path)


def _shuffle(raw: bytes, item: int) -> bytes:
    n = len(raw) // item
    return bytes(raw[i * item + k] for k in range(item) for i in range(n))


def test_handcrafted_pcl_file_reads_and_normalizes(tmp_path):
    """A file written here from the format description alone (not with the module's writer)."""
    import lz4.block

    a = np.repeat(np.array([[1.0, 1.25, 1.5]], dtype="<f4"), 16, axis=0)  # 16x3: compressible
    b = np.repeat(np.array([[0.01, -0.02, 0.03]], dtype="<f8"), 16, axis=0)
    packed = lz4.block.compress(_shuffle(a.tobytes(), 4), store_size=False)
    assert len(packed) < a.nbytes
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<!--
PixInsight XML Local Normalization Data Format - XNML version 1.0
-->
<xnml version="1.0" xmlns="http://www.pixinsight.com/xnml">
   <CreationTime>2023-05-17T17:06:42.000Z</CreationTime>
   <ReferenceImage>/data/ref.xisf</ReferenceImage>
   <TargetImage>/data/t1.xisf</TargetImage>
   <ReferenceGeometry width="300" height="200" numberOfChannels="1"/>
   <LocalNormalization scale="64" version="2">
      <Scale width="3" height="16" numberOfChannels="1" sampleFormat="Float32">
         <ChannelData compression="lz4+sh">
            <Subblock uncompressedSize="192">{base64.b64encode(packed).decode()}</Subblock>
         </ChannelData>
      </Scale>
      <ZeroOffset width="3" height="16" numberOfChannels="1" sampleFormat="Float64">
         <ChannelData compression="zlib">
            <Subblock uncompressedSize="384">{base64.b64encode(zlib.compress(b.tobytes())).decode()}</Subblock>
         </ChannelData>
      </ZeroOffset>
      <UnknownThing/>
   </LocalNormalization>
   <RelativeScaleFactors>1.25</RelativeScaleFactors>
</xnml>
"""
    path = tmp_path / "t1.xnml"
    path.write_text(text)
    data = read_xnml(path)
    assert data.scale == 64 and data.version == 2 and data.target_path == "/data/t1.xisf"
    assert np.array_equal(data.scale_matrices[0], a)
    assert np.allclose(data.offset_matrices[0], b)
    assert data.relative_scale_factors.tolist() == [1.25]
    # v' = A(x,y)·v + B(x,y) with PCL's B-spline at matrix coordinates (x·3/300, y·16/200)
    values = np.full((1, 300), 0.5, dtype=np.float32)
    data.normalize_rows(values, 0, [150])
    want = evaluate_rows(a, np.array([150]), 300, 200) * 0.5 + evaluate_rows(b, np.array([150]), 300, 200)
    assert np.allclose(values, want, atol=1e-6)


BAD = {
    "root": ("<xnml version='2.0'/>", "XNML version 1.0"),
    "no geometry": ("<xnml version='1.0'><LocalNormalization scale='64'/></xnml>", "ReferenceGeometry"),
    "huge matrix": ("<xnml version='1.0'><ReferenceGeometry width='2000000000' height='2000000000'/>"
                    "<LocalNormalization scale='64'><Scale width='65536' height='65536' numberOfChannels='64'>"
                    "</Scale></LocalNormalization></xnml>", "limit"),
    "matrix larger than reference": ("<xnml version='1.0'><ReferenceGeometry width='100' height='100'/>"
                                     "<LocalNormalization scale='64'><Scale width='200' height='2' "
                                     "numberOfChannels='1'/></LocalNormalization></xnml>", "width attribute"),
    "wrong size": ("<xnml version='1.0'><ReferenceGeometry width='100' height='100'/><LocalNormalization "
                   "scale='64'><Scale width='2' height='2' numberOfChannels='1'><ChannelData>AAAA</ChannelData>"
                   "</Scale></LocalNormalization></xnml>", "expected 16 bytes"),
    "bomb": ("<xnml version='1.0'><ReferenceGeometry width='100' height='100'/><LocalNormalization scale='64'>"
             "<Scale width='2' height='2' numberOfChannels='1'><ChannelData compression='zlib'>"
             "<Subblock uncompressedSize='99999999999'>AAAA</Subblock></ChannelData></Scale>"
             "</LocalNormalization></xnml>", "declare"),
    "scale": ("<xnml version='1.0'><ReferenceGeometry width='100' height='100'/>"
              "<LocalNormalization scale='8'/></xnml>", "scale attribute"),
    "entity": ("<!DOCTYPE x [<!ENTITY a 'b'>]><xnml version='1.0'/>", "DOCTYPE"),
    "garbage": ("<xnml version='1.0'><ReferenceGeometry", "malformed XML"),
    "empty": ("", "empty"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_xnml_gives_clear_error_naming_the_file(case):
    text, message = BAD[case]
    with pytest.raises(XnmlFileError, match=message) as info:
        parse_xnml(text, source="bad.xnml")
    assert "bad.xnml" in str(info.value)


_VALID = None


def _valid_text() -> str:
    global _VALID
    if _VALID is None:
        from processes.common.xnml import serialize_xnml

        _VALID = serialize_xnml(_data(2, w=5, h=3), compression="zlib+sh")
    return _VALID


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(
    ["0", "9", "-1", "99999999", "<", ">", "'", '"', "=", "/", " ", "A", "+", "\x00", "é", "1e308"])),
    min_size=1, max_size=6))
def test_fuzzed_xnml_never_crashes(edits):
    text = list(_valid_text())
    for position, replacement in edits:
        text[position % len(text)] = replacement
    try:
        data = parse_xnml("".join(text), source="fuzz.xnml")
    except XnmlFileError as exc:
        assert "fuzz.xnml" in str(exc)
    else:
        assert data.scale_matrices is None or data.scale_matrices.nbytes <= 2 * 5 * 3 * 4 * 4


# -- the process and ImageIntegration --------------------------------------------------------------------------
def _write_set(folder: Path, count: int, varying: bool):
    truth, reference, targets = frames(count, varying=varying)
    ref_path = write_fits(Image(reference[None].astype(np.float32)), folder / "ref.fits")
    paths = [str(write_fits(Image(t[None].astype(np.float32)), folder / f"t{k}.fits"))
             for k, (t, _, _) in enumerate(targets)]
    return truth, reference, targets, str(ref_path), paths


def _smooth_rms(image: np.ndarray, truth: np.ndarray) -> float:
    """RMS of the large-scale part of image − truth − its median (gradients, not noise)."""
    diff = ndimage.gaussian_filter(image - truth, 8.0)[16:-16, 16:-16]
    return float(np.sqrt(np.mean((diff - np.median(diff)) ** 2)))


def test_global_execution_writes_xnml_and_images(tmp_path):
    _, reference, targets, ref_path, paths = _write_set(tmp_path, 2, varying=False)
    p = LocalNormalization(scale=128, referencePathOrViewId=ref_path, referenceIsView=False, targetItems=paths,
                           generateNormalizedImages="GenerateNormalizedImages_Always", truncate=False)
    result = p.execute_global(Workspace())
    rows = result.outputs["outputData"]
    assert [r["status"] for r in rows] == ["ok", "ok"]
    for (_, a, _), row, path in zip(targets, rows, paths):
        assert row["outputFilePathXNML"] == str(Path(path).with_suffix(".xnml"))
        assert Path(row["normalizedFilePath"]).name == Path(path).stem + "_n.xisf"  # outputExtension default
        from procfw.io import read_image

        normalized = read_image(row["normalizedFilePath"]).pixels[0]
        assert _ratio(normalized, reference, a) <= LIMIT
        assert read_xnml(row["outputFilePathXNML"]).target_path == str(Path(path).resolve())
    icon = p.icon_outputs(result.outputs)["outputData"]
    assert icon[0][0].endswith("t0.xnml") and icon[0][2] == pytest.approx(1 / 0.85, rel=0.03)
    with pytest.raises(ExecutionError, match="t0"):  # outputs exist: never overwritten unless asked
        p.evolve(onError="OnError_Abort").execute_global(Workspace())


def test_view_execution_uses_a_view_reference(tmp_path):
    _, reference, [(target, a, _)] = frames(1, varying=False)
    ws = Workspace()
    ws.add_new_images({"ref": Image(reference[None].astype(np.float32)),
                       "tgt": Image(target[None].astype(np.float32))})
    p = LocalNormalization(scale=128, referencePathOrViewId="ref", truncate=False)
    p.execute_on(ws.view("tgt"))
    assert _ratio(ws.view("tgt").image.pixels[0], reference, a) <= LIMIT


@pytest.mark.slow
def test_integration_with_local_normalization_removes_gradients(tmp_path):
    truth, reference, targets, ref_path, paths = _write_set(tmp_path, 4, varying=True)
    LocalNormalization(scale=128, referencePathOrViewId=ref_path, referenceIsView=False,
                       targetItems=[ref_path, *paths]).execute_global(Workspace())
    common = {"images": [ref_path, *paths], "rejection": "WinsorizedSigmaClip", "weightMode": "DontCare",
              "generateRejectionMaps": False, "evaluateSNR": False}
    local = ImageIntegration(normalization="LocalNormalization", rejectionNormalization="LocalRejectionNormalization",
                             **common).run_global(ExecutionContext(workspace=Workspace()))
    additive = ImageIntegration(normalization="AdditiveWithScaling", rejectionNormalization="Scale",
                                **common).run_global(ExecutionContext(workspace=Workspace()))
    local_rms = _smooth_rms(local.new_images["integration"].pixels[0], truth)
    additive_rms = _smooth_rms(additive.new_images["integration"].pixels[0], truth)
    # measured: local ≈ 0.0006, additive ≈ 0.0025 (σ = 0.002 per frame)
    assert local_rms < additive_rms / 3, (local_rms, additive_rms)
    assert local_rms < SIGMA / 2


def test_integration_without_xnml_names_the_frame(tmp_path):
    _, _, _, ref_path, paths = _write_set(tmp_path, 2, varying=False)
    with pytest.raises(ExecutionError, match="ref.fits: no local normalization data file"):
        ImageIntegration(images=[ref_path, *paths], normalization="LocalNormalization",
                         rejectionNormalization="LocalRejectionNormalization").run_global(
            ExecutionContext(workspace=Workspace()))
    with pytest.raises(ExecutionError, match="both be local"):
        ImageIntegration(images=[ref_path, *paths], normalization="LocalNormalization",
                         rejection="SigmaClip", rejectionNormalization="Scale").run_global(
            ExecutionContext(workspace=Workspace()))


def test_bad_reference_and_geometry(tmp_path):
    _, _, _, ref_path, paths = _write_set(tmp_path, 1, varying=False)
    with pytest.raises(ExecutionError, match="does not exist"):
        LocalNormalization(scale=128, referencePathOrViewId=str(tmp_path / "nope.fits"), referenceIsView=False,
                           targetItems=paths).execute_global(Workspace())
    small = write_fits(Image(np.full((1, 64, 64), 0.1, np.float32)), tmp_path / "small.fits")
    result = LocalNormalization(scale=128, referencePathOrViewId=ref_path, referenceIsView=False,
                                targetItems=[str(small), *paths]).execute_global(Workspace())
    failed = result.outputs["outputData"][0]
    assert failed["status"] == "failed" and "same geometry" in failed["error"]
