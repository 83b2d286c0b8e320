"""Developer tooling: the offline engine environment, the sandbox cluster, drivers."""

import os

# As in the repository's conftest.py: the sandbox starts its processes with a
# preexec_fn, and gRPC's fork handlers can abort such a child (grpc/grpc#43055).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
