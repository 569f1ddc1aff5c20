"""Hardware configs: the shipped files load; bad ones fail with one line naming file and key."""

from __future__ import annotations

import re

import pytest
import yaml

from simulator.config.hardware import AcceleratorConfig, GpuConfig, load_hardware
from simulator.errors import ConfigError


def _vrex_dict(root):
    return yaml.safe_load((root / "hwconfigs" / "vrex-edge.yaml").read_text())


def _dump(tmp_path, data, name="hw.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data))
    return p


def test_shipped_configs_load(root):
    assert isinstance(load_hardware(root / "hwconfigs" / "vrex-edge.yaml"), AcceleratorConfig)
    assert isinstance(load_hardware(root / "hwconfigs" / "orin-agx-64gb.yaml"), GpuConfig)
    v8 = load_hardware(root / "hwconfigs" / "vrex8-edge.yaml")
    v48 = load_hardware(root / "hwconfigs" / "vrex48-server.yaml")
    assert (v8.cores, v48.cores) == (8, 48)
    assert v8.pe_array.kind == "mac_tree" and v8.pe_array.macs == 4096
    assert v8.offload.tier == "ssd" and v48.offload.tier == "host_memory"
    assert v8.dre.sram_kb == 20.125


def _vrex8_dict(root):
    return yaml.safe_load((root / "hwconfigs" / "vrex8-edge.yaml").read_text())


@pytest.mark.parametrize(
    "mutate, key, allowed",
    [
        (lambda d: d.update(cores=0), "cores", ">= 1"),
        (lambda d: d["offload"].update(tier="tape"), "offload.tier", "'ssd', 'host_memory'"),
        (lambda d: d["offload"].pop("link"), "offload.link", "missing"),
        (lambda d: d.pop("noc"), "noc", "required when cores is 8"),
        (lambda d: d["pe_array"].pop("trees"), "pe_array.trees", "required when kind is 'mac_tree'"),
        (lambda d: d["pe_array"].update(rows=64), "pe_array.rows", "not used when kind is 'mac_tree'"),
        (lambda d: d["pe_array"].update(kind="dataflow"), "pe_array.kind", "'systolic', 'mac_tree'"),
        (lambda d: d["offload"]["link"].update(gen=2), "offload.link.gen", ">= 3"),
        (lambda d: d["offload"]["link"].update(lanes=3), "offload.link.lanes", "1, 2, 4, 8, 16"),
        (lambda d: d["offload"]["device"].update(queue_depth=0), "offload.device.queue_depth", ">= 1"),
        (lambda d: d["dre"].update(hcu_units=0), "dre.hcu_units", ">= 1"),
        (lambda d: d.update(tech_node="3nm"), "tech_node", "14nm"),
    ],
)
def test_bad_vrex8_configs(tmp_path, root, mutate, key, allowed):
    _assert_one_line_error(tmp_path, _vrex8_dict(root), mutate, key, allowed)


def _assert_one_line_error(tmp_path, data, mutate, key, allowed):
    """Loading ``data`` changed by ``mutate`` fails with one line naming the file, the key and what is allowed."""
    mutate(data)
    p = _dump(tmp_path, data)
    with pytest.raises(ConfigError) as ei:
        load_hardware(p)
    msg = str(ei.value)
    assert "\n" not in msg and str(p) in msg and f"'{key}'" in msg and allowed in msg


@pytest.mark.parametrize(
    "mutate, key, allowed",
    [
        (lambda d: d["dram"].update(bandwidth_gbps=0), "dram.bandwidth_gbps", ">= 0.01"),
        (lambda d: d["sram"].update(weight_kb=-4), "sram.weight_kb", "> 0"),
        (lambda d: d["pe_array"].update(rows="many"), "pe_array.rows", "integer"),
        (lambda d: d["pe_array"].update(dataflow="row_stationary"), "pe_array.dataflow", "output_stationary"),
        (lambda d: d["dram"].update(bandwidth=10), "dram.bandwidth", "allowed here"),
        (lambda d: d.update(clock_ghz=1), "clock_ghz", "allowed here"),
        (lambda d: d["dram"].pop("capacity_gib"), "dram.capacity_gib", "missing"),
        (lambda d: d["dram"].update(efficiency=1.5), "dram.efficiency", "<= 1"),
        (lambda d: d["dre"].update(early_exit="yes"), "dre.early_exit", "true or false"),
        (lambda d: d.update(kind="fpga"), "kind", "accelerator"),
    ],
)
def test_bad_values_name_file_and_key(tmp_path, root, mutate, key, allowed):
    _assert_one_line_error(tmp_path, _vrex_dict(root), mutate, key, allowed)


def test_malformed_yaml(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("name: x\nkind: accelerator\n  pe_array: [1, 2\n")
    with pytest.raises(ConfigError, match=re.escape(str(p)) + r".*malformed YAML at line \d+"):
        load_hardware(p)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_hardware(tmp_path / "nope.yaml")
    p = tmp_path / "empty.yaml"
    p.write_text("")
    with pytest.raises(ConfigError, match="empty"):
        load_hardware(p)


def test_gpu_unknown_precision(tmp_path, root):
    data = yaml.safe_load((root / "hwconfigs" / "orin-agx-64gb.yaml").read_text())
    data["tensor_tflops"]["fp8"] = 100.0
    p = _dump(tmp_path, data)
    with pytest.raises(ConfigError, match="tensor_tflops.fp8"):
        load_hardware(p)


def test_gpu_efficiency_needs_every_precision(tmp_path, root):
    data = yaml.safe_load((root / "hwconfigs" / "orin-agx-64gb.yaml").read_text())
    del data["efficiency"]["hf-pytorch"]["w4a16"]
    p = _dump(tmp_path, data)
    with pytest.raises(ConfigError, match=r"efficiency\.hf-pytorch\.w4a16"):
        load_hardware(p)


def test_gpu_efficiency_out_of_range(tmp_path, root):
    data = yaml.safe_load((root / "hwconfigs" / "orin-agx-64gb.yaml").read_text())
    data["efficiency"]["tensorrt-llm"]["fp16"]["bandwidth"] = 1.5
    p = _dump(tmp_path, data)
    with pytest.raises(ConfigError, match=r"efficiency\.tensorrt-llm\.fp16\.bandwidth.*<= 1"):
        load_hardware(p)


@pytest.mark.parametrize("edit, match", [
    (lambda d: d.update(software="vllm"), r"software'?: got 'vllm'; allowed: 'hf-pytorch', 'tensorrt-llm'"),
    (lambda d: d.pop("software"), r"software'?: missing"),
    (lambda d: d["efficiency"].pop("tensorrt-llm") and d.update(software="tensorrt-llm"),
     r"software'?: got 'tensorrt-llm', but the config has efficiencies only for: hf-pytorch"),
    (lambda d: d["efficiency"].update(onnx=d["efficiency"]["hf-pytorch"]),
     r"efficiency\.onnx'?: unknown key; allowed here: hf-pytorch, tensorrt-llm"),
    (lambda d: d.update(efficiency={}), r"efficiency'?: empty; give at least one of: hf-pytorch, tensorrt-llm"),
    # a config written before the stacks: its flat efficiency block names no stack
    (lambda d: d.update(efficiency=d["efficiency"]["hf-pytorch"]), r"efficiency\.\w+'?: unknown key; allowed here"),
])
def test_gpu_software_stack_errors(tmp_path, root, edit, match):
    data = yaml.safe_load((root / "hwconfigs" / "orin-agx-64gb.yaml").read_text())
    edit(data)
    p = _dump(tmp_path, data)
    with pytest.raises(ConfigError, match=match):
        load_hardware(p)


def test_every_gpu_config_has_both_stacks(root):
    from simulator.config.hardware import SOFTWARE_STACKS

    gpus = [hw for hw in map(load_hardware, sorted((root / "hwconfigs").glob("*.yaml"))) if isinstance(hw, GpuConfig)]
    assert len(gpus) >= 3
    for hw in gpus:
        assert hw.software == "hf-pytorch" and tuple(hw.efficiency) == SOFTWARE_STACKS, hw.name
