"""Loaded by pytest before any test module: settings that must hold before gRPC is imported."""

import os

# gRPC's fork handlers run in a child between fork and exec (subprocess with
# preexec_fn, as the sandbox starts its processes) and can abort it with
# "epoll_wait error: Bad file descriptor" (grpc/grpc#43055). Nothing here uses
# gRPC in a forked child, so the handlers are not needed.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
