"""bnstudy: a multi-seed, reproducible study of batch-normalization placement."""

import os

# Quiet TensorFlow's C++ start-up chatter unless the user asked for it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow switches its oneDNN custom kernels on by itself on CPUs with AVX-512, and they round
# differently: the same run then ends differently on two x86 machines (3 of the placement
# study's 90 runs, measured). Off unless the user sets it, every machine computes the same
# floats; the value is in every run's provenance tags.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
# TensorFlow's default CPU allocator gives every tensor of 32 MB or more (glibc's largest mmap
# threshold) fresh pages from the kernel: an elementwise op on 96 MB ran at 1.6 GB/s instead of
# 10 GB/s, the page faults costing more than the arithmetic. Its BFC allocator keeps the memory
# it has had and reuses it; results are bit-identical (measured on every MLP study's groups).
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

__version__ = "0.1.0"
