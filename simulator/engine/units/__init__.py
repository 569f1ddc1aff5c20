"""The units a platform is built from; each counts its actions and is priced from the tech table.

Accelerator units (one module each): DPE (``dpe``: MAC trees or a systolic array, ``pe_array``), VPE
(``vector_unit``), the DRE's HCU (``hcu``), WTU (``wtu``) and KVMU (``kvmu``), and how an op is spread over
the cores (``multicore``). GPU units: tensor cores (``tensor_cores``), CUDA cores (``cuda_cores``), the copy
engine (``copy_engine``) and the irregular kernels of the software retrieval baselines (``irregular``).
"""

from simulator.engine.units.copy_engine import CopyEngine
from simulator.engine.units.cuda_cores import CudaCores
from simulator.engine.units.dpe import Dpe
from simulator.engine.units.hcu import Hcu
from simulator.engine.units.kvmu import Kvmu
from simulator.engine.units.multicore import Noc
from simulator.engine.units.pe_array import PeArray
from simulator.engine.units.tensor_cores import TensorCores
from simulator.engine.units.vector_unit import VectorUnit, Vpe
from simulator.engine.units.wtu import Wtu

__all__ = ["CopyEngine", "CudaCores", "Dpe", "Hcu", "Kvmu", "Noc", "PeArray", "TensorCores", "VectorUnit",
           "Vpe", "Wtu"]
