"""``make bench`` prints the issue's four headline lines first, per stream length, from measured figures."""

from __future__ import annotations

import re

from analysis.devtools.bench import main


def test_bench_prints_headline_lines(capsys):
    assert main(["--workload", "workloads/tiny.yaml", "--gpu-workload", "workloads/tiny.yaml",
                 "--duration-s", "3", "2", "--chunk-frames", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    starts = [i for i, line in enumerate(out) if line.startswith("trace (meta)")]
    assert starts == [0, starts[1]] and starts[1] > 4
    blocks = [out[:starts[1]], out[starts[1]:]]
    for block in blocks:
        assert re.fullmatch(r"trace \(meta\): [0-9.]+ s wall, [0-9,]+ events", block[0])
        assert re.fullmatch(r"replay \(accel\): [0-9.]+ s wall", block[1])
        assert re.fullmatch(r"replay \(gpu\): [0-9.]+ s wall", block[2])
        assert re.fullmatch(r"peak memory: [0-9,]+ MiB", block[3])
        assert any("events/s" in line for line in block[4:]) and sum("ops/s" in line for line in block[4:]) == 2
        assert any(line.startswith("  stream: workload tiny") for line in block)
    events = [int(re.search(r"([0-9,]+) events", block[0]).group(1).replace(",", "")) for block in blocks]
    assert events[0] > events[1] > 0  # the 3-s stream has more frames than the 2-s one
    sweep = [line for line in out if line.startswith("sweep: ")]
    assert len(sweep) == 1 and out[-3] == sweep[0]
    assert re.fullmatch(r"sweep: [0-9.]+ design points/s \(2-minute V-Rex8 points, trace reused; target >= 20\)",
                        sweep[0])
    assert re.match(r"  sweep: 12 points of [0-9,]+ ops in [0-9.]+ s CPU", out[-2])
    # the per-stage profile: every stage of a design point, ms CPU each
    stages, total = re.fullmatch(r"  sweep profile \(ms CPU per design point\): (.*) \(total ([0-9.]+); target <= 50\)",
                                 out[-1]).groups()
    assert float(total) >= sum(float(part.rsplit(" ", 1)[1]) for part in stages.split(", ")) - 0.5
    names = [part.rsplit(" ", 1)[0] for part in stages.split(", ")]
    assert names == ["plan", "op costs", "replay", "aggregates", "metrics", "bookkeeping"]
    assert all(float(part.rsplit(" ", 1)[1]) >= 0 for part in stages.split(", "))


def test_sweep_variants_are_distinct_design_points(vrex8_hw):
    from analysis.devtools.bench import sweep_variants

    pts = sweep_variants(vrex8_hw)
    assert len({(p.cores, p.clock_mhz, p.dram.bandwidth_gbps) for p in pts}) == len(pts) == 12
    assert pts[0] == vrex8_hw
