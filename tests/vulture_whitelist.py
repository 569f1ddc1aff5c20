"""Not imported: names vulture (``make lint``) cannot see used. Config fields that document a part (read by
people and the README's reference, not by a model), dataclass fields serialised with ``asdict``, torch
``forward`` methods and pytest fixtures. Each line is a use of the name, nothing more."""

from simulator.config import hardware, tech, workload
from simulator.engine.replay.discrete_event import realtime
from simulator.results import metrics
from simulator.tracer import trace_file

hardware.GpuConfig.cuda_cores  # documents the GPU (data sheet), no model reads it
hardware.GpuConfig.tensor_cores  # likewise
tech.TechTable.base_node  # the node the base values are given at, for the reader
workload.VisionShape.arch  # the encoder family, for the reader
workload.LlmShape.arch  # likewise, per decoder stack
metrics.StreamMetrics.question_prefill_s  # reported through asdict()
metrics.StreamMetrics.decode_step_s
metrics.StreamMetrics.total_time_s
_.forward  # torch modules' forward, called by nn.Module.__call__  # noqa: F821
_cwd  # tests/analysis/studies/test_sweep.py: autouse fixture  # noqa: F821
normaliser  # tests/engine/test_platform.py: fixture  # noqa: F821
realtime.Job.start_s  # read by name into the jobs table (JOB_COLUMNS)
realtime.Job.end_s
# the trace metadata record: fields are read by key through the TraceMeta mapping (meta["..."])
trace_file.PrecisionBits.activation
trace_file.TraceMetaRecord.kv_policy_params
trace_file.TraceMetaRecord.kv_bits_stored
trace_file.TraceMetaRecord.weight_bytes_llm
trace_file.TraceMetaRecord.weight_bytes_vision
trace_file.TraceMetaRecord.trace_wall_s
trace_file.TraceMetaRecord.attention_recall_mean
trace_file.TraceMetaRecord.kv_transfer  # read by the GPU platform as meta["kv_transfer"]
trace_file.TraceMeta.popitem  # refused like the other mutators
