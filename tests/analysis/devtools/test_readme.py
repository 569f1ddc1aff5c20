"""Every README command is true: the synopsis names every flag each command takes and no flag it does not; every
example runs (`# long` ones with a short stream and few points); every make target named exists."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from simulator.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[3]


def _blocks() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    return [b.strip("\n").splitlines() for b in re.findall(r"```sh\n(.*?)```", text, flags=re.S)]


def _synopsis() -> dict[str, str]:
    """command -> its synopsis text (continuation lines joined)."""
    out: dict[str, str] = {}
    cmd = None
    for block in _blocks():
        if not any("[" in line for line in block):
            continue
        for line in block:
            line = line.split("  #")[0]  # a comment is not the synopsis
            m = re.match(r"^vrex (\w+)", line)
            if m:
                cmd = m.group(1)
                out[cmd] = line
            elif cmd and line.startswith(" "):
                out[cmd] += " " + line
    return out


def _examples() -> list[str]:
    return [line for block in _blocks() if not any("[" in x for x in block) for line in block
            if line.startswith("vrex ")]


def _flags(parser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings if o.startswith("--") and o != "--help"}


def test_synopsis_is_complete_and_true():
    subs = next(a for a in build_parser()._actions if a.dest == "command").choices
    syn = _synopsis()
    assert set(syn) == set(subs), set(subs) ^ set(syn)
    for cmd, text in syn.items():
        named = set(re.findall(r"(--[a-z][a-z-]*)", text))
        if "same options as sweep" in text:
            named |= set(re.findall(r"(--[a-z][a-z-]*)", syn["sweep"]))
        assert named == _flags(subs[cmd]), (cmd, named ^ _flags(subs[cmd]))


@pytest.mark.parametrize("line", _examples())
def test_readme_example_runs(line, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    argv = shlex.split(line.split("#")[0])[1:]
    argv = [str(tmp_path / Path(a).name) if a.startswith("results/") else a for a in argv]  # outputs to tmp
    if "# long" in line:  # a short stream and a small grid
        spec = ROOT / argv[1]
        import yaml

        d = yaml.safe_load(spec.read_text())
        d["base"]["duration_s"] = 1
        d["axes"] = [dict(ax, values=ax["values"][:1]) for ax in d["axes"]]
        d["axes"][0]["values"] = [a for a in yaml.safe_load(spec.read_text())["axes"][0]["values"][:2]]
        small = tmp_path / "small.yaml"
        small.write_text(yaml.safe_dump(d))
        argv = [argv[0], str(small), *argv[2:], "--workers", "1", "--no-progress"]
    assert main(argv) == 0
    capsys.readouterr()


def test_make_targets_named_in_the_readme_exist():
    names = {m for block in _blocks() for line in block for m in re.findall(r"^make ([a-z-]+)", line)}
    assert names
    for t in names:
        assert subprocess.run(["make", "-n", "-C", str(ROOT), t], capture_output=True).returncode == 0, t
