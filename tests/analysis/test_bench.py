"""``make bench`` prints the issue's four headline lines first, per stream length, from measured figures."""

from __future__ import annotations

import re

from analysis.bench import main


def test_bench_prints_headline_lines(capsys):
    assert main(["--workload", "workloads/tiny.yaml", "--duration-s", "3", "2", "--replay-max-s", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    starts = [i for i, line in enumerate(out) if line.startswith("workload tiny")]
    assert len(starts) == 2
    first = out[starts[0] + 1:starts[1]]
    assert re.fullmatch(r"trace \(meta\): [0-9.]+ s wall, [0-9,]+ events", first[0])
    assert first[1].startswith("replay (accel): skipped") and first[2].startswith("replay (gpu): skipped")
    assert re.fullmatch(r"peak memory: [0-9,]+ MiB", first[3])
    second = out[starts[1] + 1:]
    assert re.fullmatch(r"replay \(accel\): [0-9.]+ s wall", second[1])
    assert re.fullmatch(r"replay \(gpu\): [0-9.]+ s wall", second[2])
    events = [int(re.search(r"([0-9,]+) events", block[0]).group(1).replace(",", "")) for block in (first, second)]
    assert events[0] > events[1] > 0  # the 3-s stream has more frames than the 2-s one
