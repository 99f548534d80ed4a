"""PixelMath on the shared corpus: every real expression parses and evaluates; every PixelMath
instance in the XPSM icons runs; a few corpus expressions against numpy formulas."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from conftest import CORPUS

from processes.kernels.mtf import mtf
from processes.pixelmath import PixelMath, PixelMathSyntaxError, parse, parse_symbols
from processes.pixelmath.nodes import Meta, Name, walk
from procfw.image import Image
from procfw.workspace import Workspace

EXPRESSIONS = CORPUS / "pixelmath" / "expressions.json"
XPSM = CORPUS / "xpsm"
CHANNEL_KEYS = {"R/K": "expression", "G": "expression1", "B": "expression2", "A": "expression3"}
# images the corpus references that are colour images (the rest are mono masters: Ha, Oiii, H, S, O...)
COLOUR_IDS = {"RGB_stars", "starless", "starless_1", "stars_1", "RGB_starless_stars", "starless_stars"}


def _entries(syntax: str) -> list[dict]:
    if not EXPRESSIONS.is_file():
        return []
    return [e for e in json.loads(EXPRESSIONS.read_text()) if e["syntax"] == syntax]


def _parameters(entry: dict) -> dict:
    params = {CHANNEL_KEYS[k]: v for k, v in entry["expressions"].items()}
    params["symbols"] = entry.get("symbols", "")
    params["useSingleExpression"] = entry["useSingleExpression"]
    return params


def _referenced_images(params: dict) -> set[str]:
    symbols = {d.name for d in parse_symbols(params.get("symbols", ""))}
    ids = set()
    for key in ("expression", "expression1", "expression2", "expression3"):
        for statement in parse(params.get(key, "")).statements:
            ids |= {n.id for n in walk(statement) if isinstance(n, Name) and n.id not in symbols}
    return ids


def _workspace(ids: set[str], seed: int = 3) -> tuple[Workspace, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    ws = Workspace()
    pixels = {"target": (rng.random((3, 24, 32), dtype=np.float32) * 0.8 + 0.05)}
    for name in sorted(ids - {"target"}):
        channels = 3 if name in COLOUR_IDS else 1
        pixels[name] = rng.random((channels, 24, 32), dtype=np.float32) * 0.8 + 0.05
    for name, data in pixels.items():
        ws.add_image(Image(data.copy()), name)
    return ws, pixels


def _require_corpus() -> None:
    if not EXPRESSIONS.is_file():
        pytest.skip(f"shared corpus not found at {CORPUS}")


PIXINSIGHT = _entries("PixInsight PixelMath")
SIRIL = _entries("Siril PixelMath")


@pytest.mark.parametrize("entry", PIXINSIGHT, ids=[e["name"] for e in PIXINSIGHT])
def test_corpus_expression_parses_and_evaluates(entry: dict) -> None:
    _require_corpus()
    params = _parameters(entry)
    for key in ("expression", "expression1", "expression2", "expression3"):
        assert parse(params.get(key, "")).statements or not params.get(key, "").strip("/ \n")
    ids = _referenced_images(params)
    ws, _ = _workspace(ids)
    PixelMath.from_parameters(params).execute_on(ws.view("target"))
    out = ws.view("target").image.pixels
    assert out.dtype == np.float32 and out.shape == (3, 24, 32)
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_corpus_counts() -> None:
    _require_corpus()
    assert len(PIXINSIGHT) >= 33 and len(SIRIL) >= 3  # the corpus snapshot: 33 PixInsight + 3 Siril


@pytest.mark.parametrize("entry", SIRIL, ids=[e["name"] for e in SIRIL])
def test_siril_dialect_is_a_syntax_error(entry: dict) -> None:
    """Siril's ``$name$`` image references are not PixInsight syntax: a clear syntax error."""
    with pytest.raises(PixelMathSyntaxError, match="line 1"):
        parse(entry["expressions"]["R/K"])


def _entry(name: str) -> dict:
    _require_corpus()
    return next(e for e in PIXINSIGHT if e["name"] == name)


def _run_entry(name: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    params = _parameters(_entry(name))
    ws, pixels = _workspace(_referenced_images(params))
    PixelMath.from_parameters(params).execute_on(ws.view("target"))
    return ws.view("target").image.pixels, pixels


def test_foraxx_sho_against_numpy() -> None:
    out, px = _run_entry("ForaxX_SHO")
    ha, oiii, sii = px["Ha"][0], px["Oiii"][0], px["Sii"][0]
    r = oiii ** (1 - oiii) * sii + (1 - oiii ** (1 - oiii)) * ha
    g = (oiii * ha) ** (1 - oiii * ha) * ha + (1 - (oiii * ha) ** (1 - oiii * ha)) * oiii
    np.testing.assert_allclose(out, np.clip(np.stack([r, g, oiii]), 0, 1), rtol=2e-6, atol=2e-7)


def test_unlinked_stretch_against_numpy() -> None:
    out, px = _run_entry("HT_Stretch_Unlinked")
    t = px["target"]
    expected = np.empty_like(t)
    for ch in range(3):
        med = np.median(t[ch])
        c = min(max(0.0, med - 2.8 * 1.4826 * np.median(np.abs(t[ch] - med))), 1.0)
        expected[ch] = mtf(mtf(0.2, med - c), np.maximum(0, (t[ch] - c) / (1 - c)))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_linear_fit_approximation_against_numpy() -> None:
    """Symbol functions median($T, c) and multi-statement per-channel expressions."""
    out, px = _run_entry("DeepSkyWorkflows LinearFit approximation")
    t = px["target"]
    medians = [np.median(t[c]) for c in range(3)]
    top = max(medians)
    expected = np.stack([t[c] * (top / medians[c]) if medians[c] < top else t[c] for c in range(3)])
    np.testing.assert_allclose(out, np.clip(expected, 0, 1), rtol=1e-5)


def test_magenta_star_fix_and_bayer_split_against_numpy() -> None:
    out, px = _run_entry("PixInsight forum: remove magenta stars in SHO")
    t = px["target"]
    g = np.where(np.minimum(t[0], t[2]) > t[1], np.minimum(t[0], t[2]), t[1])
    np.testing.assert_array_equal(out, np.stack([t[0], g, t[2]]))
    out, px = _run_entry("PJSR BayerDrizzlePrep RGGB split")
    t = px["target"]
    yy, xx = np.mgrid[0:24, 0:32]
    np.testing.assert_array_equal(out[0], np.where((xx % 2 == 0) & (yy % 2 == 0), t[0], 0))
    np.testing.assert_array_equal(out[1], np.where(np.where(yy % 2 == 0, xx % 2 == 1, xx % 2 == 0), t[1], 0))
    np.testing.assert_array_equal(out[2], np.where((xx % 2 == 1) & (yy % 2 == 1), t[2], 0))


# -- XPSM icons ----------------------------------------------------------------------------------
def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xpsm_instances() -> list[tuple[str, dict[str, str]]]:
    found = []
    if not XPSM.is_dir():
        return found
    for path in sorted([*XPSM.rglob("*.xpsm"), *XPSM.rglob("*.xosm")]):
        for element in ET.parse(path).getroot().iter():
            if _local(element.tag) == "instance" and element.get("class") == "PixelMath":
                params = {
                    p.get("id"): p.get("value") if p.get("value") is not None else (p.text or "")
                    for p in element
                    if _local(p.tag) == "parameter"
                }
                found.append((f"{path.name}:{element.get('id') or 'history'}", params))
    return found


INSTANCES = _xpsm_instances()


def test_xpsm_instance_count() -> None:
    if not XPSM.is_dir():
        pytest.skip("no XPSM corpus")
    assert len(INSTANCES) >= 43  # 40 icons in .xpsm files + 3 in the .xosm project history


@pytest.mark.parametrize(("label", "params"), INSTANCES, ids=[label for label, _ in INSTANCES])
def test_xpsm_pixelmath_instance_runs(label: str, params: dict[str, str]) -> None:
    instance = PixelMath.from_parameters(params)
    assert instance.expression == params["expression"]
    again = PixelMath.from_parameters(instance.parameters())
    assert again == instance
    ids = _referenced_images(params)
    for meta in (n for key in _EXPR for s in parse(params.get(key, "")).statements for n in walk(s)):
        assert not isinstance(meta, Meta) or meta.id in ("T", "target")
    ws, _ = _workspace(ids)
    before = ws.view("target").image.pixels.copy()
    result = instance.execute_on(ws.view("target"))
    if instance.createNewImage:
        assert len(result.created) == 1
        np.testing.assert_array_equal(ws.view("target").image.pixels, before)
        out = ws.view(result.created[0]).image.pixels
    else:
        out = ws.view("target").image.pixels
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


_EXPR = ("expression", "expression1", "expression2", "expression3")
