"""The sandbox: a throwaway Kubernetes API server, or a small cluster, on this machine.

``Sandbox()`` starts etcd and kube-apiserver (the binaries that
``scripts/engine`` provides) on 127.0.0.1 with free ports, a CA and serving
certificate made with the ``openssl`` CLI, a static bearer token in group
``system:masters``, a service-account key pair and RBAC, and writes a
kubeconfig into its directory.

``Sandbox(cluster=True)`` is a small cluster instead: the same two plus
kube-controller-manager, a node agent that runs pods as local processes, a
load balancer, and Pebble as the ACME CA, in network namespaces of their own
(docs/development.md "The sandbox cluster").

On the bare API server kube-controller-manager runs too (namespace deletion,
garbage collection, Deployments, Jobs), but no scheduler, node agent or load
balancer: objects are stored, validated and reconciled, and no pod ever runs.
Charts whose install waits for a pod (cert-manager's startupapicheck hook,
ingress-nginx's admission hooks) need the cluster.

Everything lives in one directory (default ``<repo>/.sandbox``, git-ignored):
``pki/``, ``etcd/``, ``logs/``, ``kubeconfig`` and ``sandbox.json`` (pids and
ports). ``stop()`` terminates every process it started and waits for it.

The package, as controller-runtime's envtest lays out its control plane:

* ``plane``: ``Sandbox``, which starts the processes in order and stops them;
* one module per process, each with ``NAME``, ``prepare``, ``command`` and
  ``ready``: ``etcd``, ``apiserver``, ``controller_manager``, ``door`` (the
  API server's door on loopback), ``kubelet`` (the node agent; ``pods`` holds
  what it reads from a pod spec), ``load_balancer``, ``dns`` and ``pebble``;
* ``process`` (spawn, wait until ready, stop, free ports), ``pki`` (CA,
  serving certificates, keys, kubeconfigs), ``network`` (namespaces),
  ``state`` (the directory, ports and ``sandbox.json``), ``api`` (a small
  Kubernetes client) and ``cli``.

Python::

    from tools.sandbox import Sandbox
    with Sandbox() as sb:                     # or Sandbox(directory=tmp_path)
        sb.kubeconfig                         # Path of the kubeconfig file
        sb.kubeconfig_text()                  # its contents (for k8s.Provider)
        sb.server, sb.token

CLI::

    python -m tools.sandbox start [--dir D] [--cluster]   # prints the kubeconfig path
    python -m tools.sandbox status [--dir D]
    python -m tools.sandbox stop [--dir D]
"""

from tools.sandbox.plane import Sandbox
from tools.sandbox.process import SandboxError
from tools.sandbox.state import DEFAULT_DIR

__all__ = ["DEFAULT_DIR", "Sandbox", "SandboxError"]
