"""PyTorch tracer: runs streaming inference and records one event per fused kernel."""
