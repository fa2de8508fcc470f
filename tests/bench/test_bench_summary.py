"""Summary math of the benchmark on hand-made results (no pipeline runs)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from pixelperfecter import bench
from pixelperfecter.bench import CaseResult, RealResult, Targets


def case(
    tier: str = "clean",
    restored: bool = True,
    accuracy: float = 1.0,
    oracle_restored: bool = True,
    oracle_accuracy: float = 1.0,
    cell: tuple[float | None, float | None] = (10.0, 10.0),
    true_cell: tuple[float, float] = (10.0, 10.0),
    ms: float | None = None,
    size: tuple[int, int] = (1000, 500),
    peak_mb: float | None = None,
    error: str | None = None,
    seed: int = 0,
) -> CaseResult:
    return CaseResult(
        tier=tier, seed=seed, width=size[0], height=size[1], true_cell_w=true_cell[0], true_cell_h=true_cell[1],
        cell_w=cell[0], cell_h=cell[1], accuracy=accuracy, restored=restored, oracle_accuracy=oracle_accuracy,
        oracle_restored=oracle_restored, peak_mb=peak_mb, ms=ms, error=error,
        restored_40=restored, oracle_restored_40=oracle_restored,
    )


def real(file: str, label: tuple[float, float], ours: tuple[float | None, float | None], kind: str = "single-grid", confidence: str = "high") -> RealResult:
    return RealResult(file=file, kind=kind, confidence=confidence, label_cell_w=label[0], label_cell_h=label[1],
                      cell_w=ours[0], cell_h=ours[1], diff_pct=0.5)


# --------------------------------------------------------------------------- per case


def test_cell_ok_needs_both_axes_within_one_percent() -> None:
    assert case(cell=(10.09, 9.91)).cell_ok
    assert case(cell=(10.1, 10.0)).cell_ok  # exactly 1% counts
    assert not case(cell=(10.0, 10.11)).cell_ok  # y off by 1.1%
    assert not case(cell=(10.2, 10.0)).cell_ok
    assert not case(cell=(None, None)).cell_ok  # no grid


def test_cell_error_is_the_worse_axis_relative_to_the_truth() -> None:
    assert case(cell=(20.4, 19.9), true_cell=(20.0, 20.0)).cell_error == pytest.approx(0.02)
    assert case(cell=(None, None)).cell_error is None


def test_ms_per_megapixel_uses_the_image_area() -> None:
    assert case(size=(1000, 500), ms=20.0).ms_per_mp == pytest.approx(40.0)
    assert case(ms=None).ms_per_mp is None


def test_case_row_matches_the_csv_columns() -> None:
    row = case(cell=(None, None), error="no grid").as_row()
    assert list(row) == bench.CASE_COLUMNS
    assert row["cell_w"] == "" and row["cell_ok"] == 0 and row["error"] == "no grid"


# --------------------------------------------------------------------------- per tier


def test_tier_summary_percentages_means_and_medians() -> None:
    results = [
        case(restored=True, accuracy=1.0, oracle_restored=True, ms=10.0, size=(1000, 1000), peak_mb=5.0),
        case(restored=False, accuracy=0.5, oracle_restored=True, ms=30.0, size=(500, 500), peak_mb=9.0, cell=(12.0, 12.0)),
        case(restored=True, accuracy=0.9, oracle_restored=False, oracle_accuracy=0.4, ms=20.0, size=(1000, 500)),
        case(restored=False, accuracy=0.0, oracle_restored=True, ms=None, cell=(None, None), error="no grid"),
    ]
    s = bench.summarize_tier("clean", results)
    assert s.n == 4
    assert s.restored_pct == pytest.approx(50.0)
    assert s.mean_accuracy_pct == pytest.approx(60.0)
    assert s.cell_ok_pct == pytest.approx(50.0)  # two cases off: wrong cell, no grid
    assert s.oracle_restored_pct == pytest.approx(75.0)
    assert s.oracle_mean_accuracy_pct == pytest.approx(100.0 * (1 + 1 + 0.4 + 1) / 4)
    assert s.median_ms == pytest.approx(20.0)  # of 10, 30, 20 (the missing one is skipped)
    assert s.median_ms_per_mp == pytest.approx(40.0)  # of 10, 120, 40
    assert s.peak_mb == pytest.approx(9.0)  # the largest
    assert s.n_errors == 1
    assert s.oracle_gap == pytest.approx(-25.0)


def test_tier_summary_without_timings_has_no_medians() -> None:
    s = bench.summarize_tier("ai", [case(tier="ai")])
    assert s.median_ms is None and s.median_ms_per_mp is None and s.peak_mb is None


def test_empty_tier_is_an_error() -> None:
    with pytest.raises(ValueError, match="drift"):
        bench.summarize_tier("drift", [])


def test_summarize_tiers_keeps_the_requested_order_and_skips_empty_tiers() -> None:
    results = [case(tier="ai"), case(tier="clean"), case(tier="ai")]
    summaries = bench.summarize_tiers(results, ("clean", "fractional", "ai"))
    assert [s.tier for s in summaries] == ["clean", "ai"]
    assert summaries[1].n == 2


def _summary(tier: str, restored: float, oracle: float) -> bench.TierSummary:
    return bench.TierSummary(tier=tier, n=100, restored_pct=restored, mean_accuracy_pct=99.0, cell_ok_pct=99.0,
                             oracle_restored_pct=oracle, oracle_mean_accuracy_pct=99.0, median_ms=None,
                             median_ms_per_mp=None, peak_mb=None, restored_40_pct=100.0, oracle_restored_40_pct=100.0)


@pytest.mark.parametrize(
    ("tier", "restored", "oracle", "restored_ok", "gap_ok"),
    [
        ("clean", 99.0, 99.0, True, True),  # at the target, level with the oracle
        ("clean", 99.0, 100.0, True, False),  # any point under the oracle fails (>= ORACLE)
        ("clean", 98.9, 98.0, False, True),
        ("fractional", 99.5, 99.5, True, True),
        ("ai", 98.0, 98.1, True, False),
        ("ai", 97.9, 97.9, False, True),
        ("small", 96.0, 95.0, True, True),
        ("drift", 94.0, 90.0, False, True),  # beating the oracle does not excuse the target
    ],
)
def test_tier_checks_against_targets_and_oracle(tier: str, restored: float, oracle: float, restored_ok: bool, gap_ok: bool) -> None:
    checks = bench.tier_checks(_summary(tier, restored, oracle), Targets())
    by_name = {c.name.split(": ")[1]: c for c in checks}
    assert by_name["restored"].passed is restored_ok
    assert by_name["gap to oracle"].passed is gap_ok
    assert bench.tier_passed(_summary(tier, restored, oracle), Targets()) is (restored_ok and gap_ok)


def test_synth_table_has_an_oracle_row_beside_each_tier_and_marks_failures() -> None:
    headers, rows = bench.synth_table([_summary("clean", 100.0, 100.0), _summary("drift", 80.0, 90.0)], Targets())
    assert [(r[0], r[1]) for r in rows] == [("clean", "ours"), ("clean", "ORACLE"), ("drift", "ours"), ("drift", "ORACLE")]
    result = headers.index("result")
    assert rows[0][result] == "PASS"
    assert rows[2][result].startswith("FAIL") and "restored 80.0%" in rows[2][result] and "-10.0" in rows[2][result]
    assert rows[3][headers.index("restored")] == "90.0%"


# --------------------------------------------------------------------------- speed


def test_speed_summary_median_and_target() -> None:
    speed = bench.summarize_speed(1024, 1024, [70.0, 50.0, 55.0, 58.0], peak_mb=12.0)
    assert speed.median_ms == pytest.approx(56.5)
    assert (speed.min_ms, speed.max_ms, speed.n) == (50.0, 70.0, 4)
    assert bench.speed_check(speed, Targets()).passed is True
    slow = bench.summarize_speed(1024, 1024, [61.0, 62.0, 10.0], peak_mb=None)
    assert bench.speed_check(slow, Targets()).passed is False
    assert "FAIL" in bench.speed_line(slow, Targets())
    assert bench.speed_check(bench.summarize_speed(1024, 1024, [], None), Targets()).passed is None


# --------------------------------------------------------------------------- real world


def test_realworld_groups_unambiguous_images_apart_from_the_rest() -> None:
    results = [
        real("a.png", (10.0, 10.0), (10.05, 9.95)),  # ok
        real("b.png", (20.0, 20.0), (40.0, 40.0)),  # harmonic: wrong
        real("c.png", (16.0, 16.0), (16.0, 16.0), confidence="medium"),  # ok, other
        real("d.png", (12.0, 12.0), (None, None), kind="mixed", confidence="high"),  # no grid, other
    ]
    summaries = {s.group: s for s in bench.summarize_realworld(results)}
    assert (summaries[bench.UNAMBIGUOUS].n, summaries[bench.UNAMBIGUOUS].n_ok) == (2, 1)
    assert summaries[bench.UNAMBIGUOUS].ok_pct == pytest.approx(50.0)
    assert (summaries[bench.OTHER].n, summaries[bench.OTHER].n_ok) == (2, 1)
    check = bench.realworld_check(list(summaries.values()), Targets())
    assert check.passed is False and "1/2" in check.value


def test_realworld_target_is_95_percent_of_the_unambiguous_images() -> None:
    good = [real(f"{i}.png", (10.0, 10.0), (10.0, 10.0)) for i in range(19)]
    assert bench.realworld_check(bench.summarize_realworld(good + [real("x.png", (10.0, 10.0), (20.0, 20.0))]), Targets()).passed
    assert not bench.realworld_check(bench.summarize_realworld(good[:18] + [real("x.png", (10.0, 10.0), (20.0, 20.0))] * 2), Targets()).passed
    assert bench.realworld_check(bench.summarize_realworld([]), Targets()).passed is None


def test_realworld_table_rows() -> None:
    headers, rows = bench.realworld_table([real("a.png", (10.0, 10.0), (10.3, 10.0)), real("b.png", (8.0, 8.0), (None, None))])
    assert headers[:4] == ["file", "label cell", "our cell", "ok?"]
    assert rows[0][:5] == ["a.png", "10.000 x 10.000", "10.300 x 10.000", "NO", "3.00"]
    assert rows[1][2] == "-" and rows[1][3] == "NO"


def test_parse_labels_reads_the_fields_and_names_bad_lines() -> None:
    text = ('{"file": "a.png", "cell_w": 10.5, "cell_h": 10.25, "kind": "single-grid", "confidence": "high"}\n\n'
            '{"file": "b.png", "cell_w": 8, "cell_h": 8, "kind": "mixed", "confidence": "low"}\n')
    labels = bench.parse_labels(text)
    assert [(lab.file, lab.cell_w, lab.group) for lab in labels] == [("a.png", 10.5, bench.UNAMBIGUOUS), ("b.png", 8.0, bench.OTHER)]
    with pytest.raises(ValueError, match=r"labels\.jsonl:2: bad label line"):
        bench.parse_labels('{"file": "a.png", "cell_w": 1, "cell_h": 1}\n{"file": "b.png"}\n')


# --------------------------------------------------------------------------- report plumbing


def test_report_checks_and_json_summary() -> None:
    settings = bench.BenchSettings(per_tier=1, seed=0, tiers=("clean",), workers=1, speed_runs=1, speed_size=(1024, 1024),
                                   realworld_dir=None, quick=False, out_dir="out")
    cases = [case(ms=5.0)]
    report = bench.BenchReport(
        settings=settings, cases=cases, tiers=bench.summarize_tiers(cases, ("clean",)),
        speed=bench.summarize_speed(1024, 1024, [80.0], None), realworld=[], realworld_summary=[], notes=["n"],
    )
    verdicts = {c.name: c.passed for c in report.checks()}
    assert verdicts == {"clean: restored": True, "clean: gap to oracle": True, "clean: restored at L-inf 40": True,
                        "clean: refusals": True, "speed: median 1024x1024, one core": False}
    assert not report.all_passed
    summary = report.as_json()
    assert summary["all_passed"] is False
    assert summary["tiers"][0]["tier"] == "clean" and summary["tiers"][0]["passed"] is True
    assert summary["speed"]["median_ms"] == 80.0


def test_markdown_table_escapes_pipes() -> None:
    text = bench.markdown_table((["a", "b"], [["x|y", "2"]]))
    assert text.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | 2 |"]


def test_single_thread_env_sets_and_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "8")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    with bench.single_thread_env():
        assert os.environ["OMP_NUM_THREADS"] == "1" and os.environ["OPENBLAS_NUM_THREADS"] == "1"
    assert os.environ["OMP_NUM_THREADS"] == "8"
    assert "OPENBLAS_NUM_THREADS" not in os.environ


def test_attach_timings_matches_cases_by_tier_and_seed() -> None:
    cases = [case(tier="ai", seed=3), case(tier="clean", seed=3)]
    samples = [bench.TimingSample(bench.TimingJob("synth", tier="clean", seed=3), 12.5),
               bench.TimingSample(bench.TimingJob("speed", tier="ai", seed=3, size=(1024, 1024)), 99.0)]
    timed = bench.attach_timings(cases, samples)
    assert [c.ms for c in timed] == [None, 12.5]


def test_busiest_crop_finds_the_detailed_region() -> None:
    rgb = np.full((600, 800, 3), 128, np.uint8)
    rgb[400:560, 50:210] = np.indices((160, 160)).sum(axis=0)[..., None] % 2 * 255  # a checkerboard patch
    x0, y0 = bench.busiest_crop_origin(rgb)
    assert abs(x0 - 50) <= 16 and abs(y0 - 400) <= 16
    # Flat image: the centre.
    assert bench.busiest_crop_origin(np.zeros((600, 800, 3), np.uint8)) == (320, 224)
    assert bench.busiest_crop_origin(np.zeros((100, 120, 3), np.uint8)) == (0, 0)


def test_refusals_and_loose_tolerance_are_checked_per_tier() -> None:
    cases = [case(), case(seed=1, restored=False, cell=(None, None), error="no grid")]
    summary = bench.summarize_tier("small", cases)
    assert summary.n_errors == 1 and summary.restored_40_pct == 50.0
    by_name = {c.name.split(": ")[1]: c for c in bench.tier_checks(summary, Targets())}
    assert by_name["refusals"].passed is False and by_name["restored at L-inf 40"].passed is False


def test_photo_and_scaling_checks() -> None:
    from pixelperfecter.bench.negatives import PhotoResult
    from pixelperfecter.bench.results import ScalingResult

    settings = bench.BenchSettings(per_tier=1, seed=0, tiers=("clean",), workers=1, speed_runs=0, speed_size=(1024, 1024),
                                   realworld_dir=None, quick=False, out_dir="out")
    report = bench.BenchReport(
        settings=settings, cases=[], tiers=[], speed=None, realworld=[], realworld_summary=[], notes=[],
        photos=[PhotoResult("a.png", True, False, None, "smooth"), PhotoResult("b.png", False, False, 0.9, "")],
        scaling=[ScalingResult("busy", 2000, 2000, 40.0, 20.0)],
    )
    verdicts = {c.name: (c.passed, c.value) for c in report.checks()}
    assert verdicts["photos: refused or flagged"][0] is False
    assert verdicts["ms/MP at 4 MP (busy)"] == (True, "10.0")
    assert verdicts["peak memory at 4 MP (busy)"] == (True, "5.0 B/px")
    markdown = bench.report_markdown(report)
    assert "ACCEPTED" in markdown and "bytes/pixel" in markdown


def test_speed_reports_the_peer_ratio() -> None:
    speed = bench.summarize_speed(1024, 1024, [40.0, 50.0, 60.0], None, peer_ms=[100.0, 90.0, 110.0])
    assert speed.peer_median_ms == 100.0 and speed.peer_ratio == 0.5
    assert "perfect-pixel 100.0 ms" in bench.speed_line(speed, Targets()) and "0.50x" in bench.speed_line(speed, Targets())
    assert bench.summarize_speed(1024, 1024, [40.0], None).peer_ratio is None


def test_perfect_pixel_is_timed_when_installed() -> None:
    pytest.importorskip("perfect_pixel")
    from pixelperfecter.bench.timing import time_peer
    from pixelperfecter.core import synth

    assert time_peer(synth.make_case(1, "ai", size=(256, 256)).image) > 0
