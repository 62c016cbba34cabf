"""layerserve: serve declarative torch layer stacks, and explain every layer."""

import os

__version__ = "0.1.0"

# oneMKL's strict reproducibility mode: a matrix product gives the same bits whatever the
# number of threads and, as measured, whatever the number of rows, so a request's answer does
# not depend on which other requests shared its batch. MKL reads this at its first call, which
# comes after this import in every process that serves or tests.
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

# The numpy serving path (service/stack/numpy_path.py) computes with one thread, like torch by
# default; OpenBLAS, numpy's BLAS, reads this when numpy is first imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
