"""The preprocess report's frame table: long file names are kept whole and columns stay aligned."""

from __future__ import annotations

from types import SimpleNamespace

from processes.workflows.preprocess.report import frame_table


def test_frame_table_keeps_long_names_and_aligns_columns():
    long_name = "Light_M_94_10.0s_IRCUT_20250326-212046_with_a_very_long_suffix.fit"
    run = SimpleNamespace(lights={
        "a": {"path": f"/raw/{long_name}", "group": "Light IRCUT 10s bin1 gain80 a long group", "status": "ok",
              "stars": {"stars": 412, "fwhm": 2.54, "eccentricity": 0.41},
              "alignment": {"matchedStars": 300, "rmsError": 0.309},
              "integration": {"weight": [1.0], "rejectedHighPercent": [0.125]}},
        "b": {"path": "/raw/short.fit", "group": "g", "status": "failed"},
    })
    header, first, second = frame_table(run)  # type: ignore[arg-type]
    assert first.startswith(long_name + " ")
    assert "Light IRCUT 10s bin1 gain80 a long group" in first
    assert second.startswith("short.fit ") and second.split()[1:3] == ["g", "failed"]
    assert header.index("status") == first.index("ok") == second.index("failed")
    assert len(header) == len(first) == len(second)  # numbers right-aligned to the same edge
