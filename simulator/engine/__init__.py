"""The engine: hardware models that replay a trace and return per-op times and energies.

- ``platform``: the unit and platform interfaces, the registries, the block table derived from the registered
  units (area, peak and chip power) and the pricing of actions (one table);
- ``contract``: the hardware/software contract (``hash_bits``, ``wtu_buckets``) checked when a trace meets a
  platform;
- ``result``: what a simulation returns, the energy parts and their column names, the phase keys;
- ``ops``: the trace's event table as arrays, shared by every unit's cost model;
- ``units``: DPE, VPE, HCU, WTU, KVMU (accelerator) and tensor cores, CUDA cores, copy engine (GPU);
- ``memory``: SRAM, DRAM, the KV capacity model and the offload tier (SSD or host memory behind PCIe);
- ``physical``: area and peak power from the tech table;
- ``platforms``: the accelerator and the GPU as sets of units;
- ``replay``: dependencies, the SimPy reference, the compiled replay, chunked and arrival-driven replays;
- ``simulate``: one path for every platform (trace -> op costs -> replay -> ``result.SimResult``).
"""
