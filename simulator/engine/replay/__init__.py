"""Replaying a trace's ops on a platform's units: the dependencies (``schedule``) and per-trace plan
(``plan``), the SimPy reference (``discrete_event``), the compiled numba replay (``compiled``) that gives the
same times, the chunked replay with carried state (``chunks``) and arrival-driven streaming (``realtime``)."""

from simulator.engine.replay.chunks import ChunkReplay
from simulator.engine.replay.compiled import replay_compiled
from simulator.engine.replay.discrete_event import Replay, replay_simpy, replay_trace
from simulator.engine.replay.plan import TracePlan, trace_plan
from simulator.engine.replay.realtime import RealtimePolicy, run_realtime

__all__ = ["ChunkReplay", "RealtimePolicy", "Replay", "TracePlan", "replay_compiled", "replay_simpy",
           "replay_trace", "run_realtime", "trace_plan"]
