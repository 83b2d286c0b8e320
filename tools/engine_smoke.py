"""End-to-end smoke test of the offline engine: a real `pulumi up` and `destroy`.

Starts a sandbox cluster (tools/sandbox.py), then drives the Pulumi CLI from
scripts/engine through the Automation API with an inline program (no language
host process needed) and a local file backend. The program creates, through
an explicit ``pulumi_kubernetes.Provider(kubeconfig=...)``:

* a Namespace and a ConfigMap in it,
* a ``helm.v3.Release`` of the stand-in cert-manager chart from its local path
  (``crds.enabled``), which installs the Certificate/ClusterIssuer CRDs,
* a ClusterIssuer (``apiextensions.CustomResource``) that depends on the
  release, and a Certificate in the Namespace,
* a ``helm.v3.Release`` of the stand-in ingress-nginx chart with values that
  must reach its controller ConfigMap, and a Deployment, Service and Ingress
  annotated ``pulumi.com/skipAwait`` (nothing would ever make them ready),

checks the objects with the Kubernetes client, checks that a second preview
has no changes, then destroys the stack and checks that everything is gone.

    .venv/bin/python -m tools.engine_smoke [--keep] [--kubeconfig FILE]

Exit status 0 means the engine works.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tools.engine_env import REPO_ROOT, engine_env, pulumi_command_root
from tools.sandbox import Sandbox

CERT_MANAGER_CHART = REPO_ROOT / "tests" / "fixtures" / "charts" / "cert-manager"
INGRESS_NGINX_CHART = REPO_ROOT / "tests" / "fixtures" / "charts" / "ingress-nginx"
NAMESPACE = "engine-smoke"
ISSUER = "smoke-letsencrypt-staging"


def _program(kubeconfig: str) -> Any:
    def program() -> None:
        import pulumi
        import pulumi_kubernetes as k8s

        provider = k8s.Provider("sandbox", kubeconfig=kubeconfig)
        opts = pulumi.ResourceOptions(provider=provider)
        ns = k8s.core.v1.Namespace("smoke", metadata={"name": NAMESPACE}, opts=opts)
        cm = k8s.core.v1.ConfigMap(
            "smoke",
            metadata={"name": "smoke", "namespace": ns.metadata.name},
            data={"hello": "world"},
            opts=opts,
        )
        release = k8s.helm.v3.Release(
            "cert-manager",
            k8s.helm.v3.ReleaseArgs(
                name="cert-manager",
                chart=str(CERT_MANAGER_CHART),
                namespace="cert-manager",
                create_namespace=True,
                # keep=False so that destroy removes the CRDs again.
                values={"crds": {"enabled": True, "keep": False}},
            ),
            opts=opts,
        )
        issuer = k8s.apiextensions.CustomResource(
            "issuer",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata={"name": ISSUER},
            spec={
                "acme": {
                    "server": "https://acme-staging-v02.api.letsencrypt.org/directory",
                    "privateKeySecretRef": {"name": ISSUER},
                    "profile": "classic",
                    "solvers": [{"http01": {"ingress": {"ingressClassName": "nginx"}}}],
                }
            },
            opts=pulumi.ResourceOptions(provider=provider, depends_on=[release]),
        )
        cert = k8s.apiextensions.CustomResource(
            "cert",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata={"name": "smoke", "namespace": ns.metadata.name},
            spec={
                "secretName": "smoke-tls",
                "dnsNames": ["smoke.example.test"],
                "issuerRef": {"name": ISSUER, "kind": "ClusterIssuer", "group": "cert-manager.io"},
                "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            },
            opts=pulumi.ResourceOptions(provider=provider, depends_on=[release, issuer]),
        )
        nginx = k8s.helm.v3.Release(
            "ingress-nginx",
            k8s.helm.v3.ReleaseArgs(
                name="ingress-nginx",
                chart=str(INGRESS_NGINX_CHART),
                namespace="ingress-nginx",
                create_namespace=True,
                values={
                    "controller": {
                        "allowSnippetAnnotations": False,
                        "config": {"annotations-risk-level": "Critical"},
                    }
                },
            ),
            opts=opts,
        )
        # Workloads: nothing runs them here, so the provider must not await them.
        skip = {"pulumi.com/skipAwait": "true"}
        labels = {"app": "smoke"}
        deployment_spec: Any = {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "nginx:stable"}]},
            },
        }
        k8s.apps.v1.Deployment(
            "web",
            metadata={"name": "web", "namespace": ns.metadata.name, "annotations": skip},
            spec=deployment_spec,
            opts=opts,
        )
        svc = k8s.core.v1.Service(
            "web",
            metadata={"name": "web", "namespace": ns.metadata.name, "annotations": skip},
            spec={"selector": labels, "ports": [{"port": 80}]},
            opts=opts,
        )
        ingress_spec: Any = {
            "ingressClassName": "nginx",
            "tls": [{"hosts": ["smoke.example.test"], "secretName": "smoke-tls"}],
            "rules": [
                {
                    "host": "smoke.example.test",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": svc.metadata.name, "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ],
        }
        k8s.networking.v1.Ingress(
            "web",
            metadata={
                "name": "web",
                "namespace": ns.metadata.name,
                "annotations": {**skip, "nginx.ingress.kubernetes.io/ssl-redirect": "true"},
            },
            spec=ingress_spec,
            opts=pulumi.ResourceOptions(provider=provider, depends_on=[nginx]),
        )
        pulumi.export("configmap", cm.metadata.name)
        pulumi.export("release_status", release.status.status)
        pulumi.export("chart_version", release.status.version)
        pulumi.export("issuer", issuer.metadata["name"])  # type: ignore[attr-defined]
        pulumi.export("certificate", cert.metadata["name"])  # type: ignore[attr-defined]

    return program


@contextmanager
def _cluster(kubeconfig: str | None, workdir: Path, env: dict[str, str]) -> Iterator[str]:
    if kubeconfig:
        yield Path(kubeconfig).read_text()
        return
    sb = Sandbox(
        workdir / "sandbox",
        etcd=env["MULTISITE_ETCD"],
        kube_apiserver=env["MULTISITE_KUBE_APISERVER"],
    )
    t = time.monotonic()
    sb.start()
    print(f"smoke: sandbox up at {sb.server} in {time.monotonic() - t:.1f}s", flush=True)
    try:
        yield sb.kubeconfig_text()
    finally:
        sb.stop()
        print("smoke: sandbox stopped", flush=True)


def _check_live(kubeconfig_text: str, workdir: Path, *, expect_present: bool) -> None:
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    path = workdir / "kubeconfig.check"
    path.write_text(kubeconfig_text)
    with config.new_client_from_config(config_file=str(path)) as api:  # type: ignore[no-untyped-call]
        core = client.CoreV1Api(api)
        custom = client.CustomObjectsApi(api)
        ext = client.ApiextensionsV1Api(api)

        def exists(fn: Any, *args: Any) -> bool:
            try:
                fn(*args)
                return True
            except ApiException as err:
                if err.status == 404:
                    return False
                raise

        checks = {
            "namespace": exists(core.read_namespace, NAMESPACE),
            "configmap": exists(core.read_namespaced_config_map, "smoke", NAMESPACE),
            "crd certificates": exists(ext.read_custom_resource_definition, "certificates.cert-manager.io"),
            "crd clusterissuers": exists(
                ext.read_custom_resource_definition, "clusterissuers.cert-manager.io"
            ),
        }
        if checks["crd clusterissuers"]:
            checks["clusterissuer"] = exists(
                custom.get_cluster_custom_object, "cert-manager.io", "v1", "clusterissuers", ISSUER
            )
        if expect_present:
            checks["certificate"] = exists(
                custom.get_namespaced_custom_object,
                "cert-manager.io",
                "v1",
                NAMESPACE,
                "certificates",
                "smoke",
            )
            values_cm = core.read_namespaced_config_map("cert-manager-standin-values", "cert-manager")
            data = values_cm.data or {}
            assert data.get("crds-enabled") == "true", data
            assert data.get("chart") == "cert-manager-v1.21.2", data
            nginx_cm = core.read_namespaced_config_map("ingress-nginx-controller", "ingress-nginx")
            assert nginx_cm.data == {
                "allow-snippet-annotations": "false",
                "annotations-risk-level": "Critical",
            }, nginx_cm.data
            ingress_class = client.NetworkingV1Api(api).read_ingress_class("nginx")
            assert ingress_class.spec is not None
            assert ingress_class.spec.controller == "k8s.io/ingress-nginx"
            for kind, read in (
                ("deployment", client.AppsV1Api(api).read_namespaced_deployment),
                ("service", core.read_namespaced_service),
                ("ingress", client.NetworkingV1Api(api).read_namespaced_ingress),
            ):
                checks[kind] = exists(read, "web", NAMESPACE)
        wrong = {k: v for k, v in checks.items() if v != expect_present}
        state = "present" if expect_present else "gone"
        if wrong:
            raise AssertionError(f"expected all {state}, but: {wrong}")
        print(f"smoke: checked live objects are {state}: {sorted(checks)}", flush=True)


def run(kubeconfig: str | None = None, keep: bool = False) -> None:
    from pulumi import automation as auto

    env = engine_env()
    workdir = Path(tempfile.mkdtemp(prefix="multisite-smoke-"))
    state_dir = workdir / "state"
    state_dir.mkdir()
    env_vars = {
        **env,
        "PULUMI_BACKEND_URL": f"file://{state_dir}",
        "PULUMI_CONFIG_PASSPHRASE": "engine-smoke-not-secret",
    }
    try:
        with _cluster(kubeconfig, workdir, env) as kubeconfig_text:
            ws_opts = auto.LocalWorkspaceOptions(
                work_dir=str(workdir),
                pulumi_home=env["PULUMI_HOME"],
                env_vars=env_vars,
                pulumi_command=auto.PulumiCommand(root=pulumi_command_root(env)),
                project_settings=auto.ProjectSettings(
                    name="multisite-engine-smoke",
                    runtime="python",
                    backend=auto.ProjectBackend(url=f"file://{state_dir}"),
                ),
            )
            stack = auto.create_or_select_stack(
                stack_name="smoke",
                project_name="multisite-engine-smoke",
                program=_program(kubeconfig_text),
                opts=ws_opts,
            )
            t = time.monotonic()
            up = stack.up(on_output=lambda line: print("  up:", line.rstrip(), flush=True))
            print(
                f"smoke: up {up.summary.result} in {time.monotonic() - t:.1f}s "
                f"{json.dumps(up.summary.resource_changes)}",
                flush=True,
            )
            outputs = {k: v.value for k, v in up.outputs.items()}
            print(f"smoke: outputs {json.dumps(outputs)}", flush=True)
            assert up.summary.result == "succeeded"
            assert outputs["release_status"] == "deployed", outputs
            assert outputs["chart_version"] == "v1.21.2", outputs
            _check_live(kubeconfig_text, workdir, expect_present=True)

            t = time.monotonic()
            pre = stack.preview()
            changes = {k: v for k, v in pre.change_summary.items() if k != "same"}
            print(f"smoke: second preview in {time.monotonic() - t:.1f}s: {pre.change_summary}", flush=True)
            assert not changes, f"second preview wants changes: {pre.change_summary}"

            t = time.monotonic()
            down = stack.destroy(on_output=lambda line: print("  destroy:", line.rstrip(), flush=True))
            print(f"smoke: destroy {down.summary.result} in {time.monotonic() - t:.1f}s", flush=True)
            assert down.summary.result == "succeeded"
            _check_live(kubeconfig_text, workdir, expect_present=False)
            stack.workspace.remove_stack("smoke")
        print("smoke: OK, the engine works", flush=True)
    finally:
        if keep:
            print(f"smoke: kept {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.engine_smoke", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--kubeconfig", help="use this cluster instead of starting a sandbox")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work directory")
    args = parser.parse_args(argv)
    run(kubeconfig=args.kubeconfig, keep=args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
