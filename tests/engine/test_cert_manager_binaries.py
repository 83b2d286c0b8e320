"""The sandbox's cert-manager binaries are what cert-manager's chart expects.

scripts/engine builds the controller, webhook, cainjector, acmesolver and
startupapicheck from this project's own mains (engine/cert-manager) on the
packages of the cert-manager module the stacks pin. Each test renders the
real chart with the program's values, starts the binary exactly as the
chart's container would (its args, `$(POD_NAMESPACE)` expanded; only a
kubeconfig for the bare sandbox and loopback listen addresses added, where
the chart's own would clash on a shared machine) and checks what the chart
relies on: the flags are accepted, the probes' and webhooks' ports and paths
answer, the leader election Leases are taken.
"""

from __future__ import annotations

import base64
import functools
import http.client
import json
import re
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from components.cert_manager import CHART_VERSION, cert_manager_values
from tools.helm import manifests, render_text, upstream_chart
from tools.kube import Cluster
from tools.sandbox import Sandbox
from tools.sandbox.pods import expand

pytestmark = pytest.mark.engine

NAMESPACE = "cert-manager"
# The chart's workloads, by the binary each runs.
WORKLOADS = {
    "controller": ("Deployment", "cert-manager"),
    "webhook": ("Deployment", "cert-manager-webhook"),
    "cainjector": ("Deployment", "cert-manager-cainjector"),
    "startupapicheck": ("Job", "cert-manager-startupapicheck"),
}


@pytest.fixture(scope="module")
def chart(engine: dict[str, str]) -> list[dict[str, Any]]:
    """Every object of the cert-manager chart, rendered with the program's values."""
    text = render_text(
        engine["MULTISITE_HELM"],
        upstream_chart("cert-manager", CHART_VERSION),
        cert_manager_values(),
        release="cert-manager",
        namespace=NAMESPACE,
    )
    return manifests(text)


def container(chart: list[dict[str, Any]], component: str) -> dict[str, Any]:
    kind, name = WORKLOADS[component]
    (workload,) = [o for o in chart if o["kind"] == kind and o["metadata"]["name"] == name]
    (only,) = workload["spec"]["template"]["spec"]["containers"]
    return dict(only)


def chart_args(chart: list[dict[str, Any]], component: str) -> list[str]:
    """The container's args as the kubelet passes them (`$(POD_NAMESPACE)` expanded)."""
    return [expand(arg, {"POD_NAMESPACE": NAMESPACE}) for arg in container(chart, component)["args"]]


def named_port(chart: list[dict[str, Any]], component: str, name: str) -> int:
    (port,) = [p["containerPort"] for p in container(chart, component)["ports"] if p["name"] == name]
    return int(port)


def answers_200(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return bool(response.status == 200)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def start(engine: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start a cert-manager binary (`component`) with `args`; every process is stopped after the test."""
    started: list[subprocess.Popen[str]] = []

    def run(component: str, args: list[str]) -> subprocess.Popen[str]:
        log = open(tmp_path / f"{component}.log", "w")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [engine[f"MULTISITE_CERT_MANAGER_{component.upper()}"], *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env={"POD_NAMESPACE": NAMESPACE, "PATH": "/usr/bin:/bin"},
        )
        log.close()
        started.append(process)
        return process

    yield run
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def log_of(tmp_path: Path, component: str) -> str:
    return (tmp_path / f"{component}.log").read_text()


def until(check: Callable[[], Any], *, seconds: float, what: str, process: subprocess.Popen[str]) -> Any:
    """Poll `check` until it returns something truthy; fail early when `process` exits."""
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            pytest.fail(f"{what}: the process exited with {process.returncode}")
        try:
            result = check()
        except OSError:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds:.0f} s")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def sandbox(engine: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A bare sandbox of this module's own: the tests install cert-manager's CRDs into it."""
    with Sandbox(
        tmp_path_factory.mktemp("cert-manager-sandbox"),
        etcd=engine["MULTISITE_ETCD"],
        kube_apiserver=engine["MULTISITE_KUBE_APISERVER"],
    ) as sb:
        yield sb


@pytest.fixture(scope="module")
def kube(sandbox: Sandbox, chart: list[dict[str, Any]]) -> Cluster:
    """The sandbox with the chart's namespace (the webhook keeps its CA there) and its CRDs
    (the cainjector waits for the Certificate CRD before it starts)."""
    cluster = Cluster(sandbox.kubeconfig)
    cluster.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
    crds = [o for o in chart if o["kind"] == "CustomResourceDefinition"]
    for crd in crds:
        cluster.extensions.create_custom_resource_definition(crd)
    deadline = time.monotonic() + 60
    while not all(established(cluster, crd["metadata"]["name"]) for crd in crds):
        assert time.monotonic() < deadline, "cert-manager's CRDs were not Established within 60 s"
        time.sleep(0.5)
    return cluster


def established(cluster: Cluster, name: str) -> bool:
    conditions = cluster.extensions.read_custom_resource_definition(name).status.conditions or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)


def lease_holder(kube: Cluster, name: str) -> str | None:
    """Who holds the Lease `name` in kube-system, where the chart's leader elections run."""
    try:
        lease: Any = client.CoordinationV1Api(kube.api).read_namespaced_lease(name, "kube-system")
    except client.ApiException as err:
        if err.status == 404:
            return None
        raise
    return str(lease.spec.holder_identity or "") or None


@pytest.mark.parametrize(
    "component", ["controller", "webhook", "cainjector", "acmesolver", "startupapicheck"]
)
def test_each_binary_reports_the_pinned_version(engine: dict[str, str], component: str) -> None:
    done = subprocess.run(
        [engine[f"MULTISITE_CERT_MANAGER_{component.upper()}"], "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert done.stdout.startswith(f"cert-manager-{component} {CHART_VERSION} ")


def test_the_controller_runs_with_the_charts_args(
    chart: list[dict[str, Any]], sandbox: Sandbox, kube: Cluster, start: Any, tmp_path: Path
) -> None:
    args = chart_args(chart, "controller")
    # What the program's values make the chart pass (components/cert_manager.py).
    assert "--feature-gates=ACMEHTTP01IngressPathTypeExact=false" in args
    assert "--enable-certificate-owner-ref=true" in args
    assert f"--cluster-resource-namespace={NAMESPACE}" in args
    assert f"--acme-http01-solver-image=quay.io/jetstack/cert-manager-acmesolver:{CHART_VERSION}" in args
    healthz = free_port()
    process = start(
        "controller",
        [
            *args,
            f"--kubeconfig={sandbox.kubeconfig}",
            f"--metrics-listen-address=127.0.0.1:{free_port()}",
            f"--internal-healthz-listen-address=127.0.0.1:{healthz}",
        ],
    )
    # The chart's liveness probe: GET /livez on the http-healthz port (9403 in the pod).
    assert named_port(chart, "controller", "http-healthz") == 9403
    probe = container(chart, "controller")["livenessProbe"]["httpGet"]
    assert (probe["path"], probe["port"]) == ("/livez", "http-healthz")
    url = f"http://127.0.0.1:{healthz}{probe['path']}"
    until(functools.partial(answers_200, url), seconds=60, what=url, process=process)
    # --leader-election-namespace=kube-system from the chart: the controller wins the Lease, then runs.
    until(
        lambda: lease_holder(kube, "cert-manager-controller"),
        seconds=60,
        what="the cert-manager-controller Lease",
        process=process,
    )
    until(
        lambda: (
            "issuers" in log_of(tmp_path, "controller") and "challenges" in log_of(tmp_path, "controller")
        ),
        seconds=30,
        what="the controllers it starts",
        process=process,
    )


# What the stack needs (engine/README.md): issuers and ClusterIssuers, the Certificate
# lifecycle, approval and the ACME/CA/self-signed CertificateRequest issuers, ACME
# Orders and Challenges. Names are cert-manager's (each controller's ControllerName).
WIRED_CONTROLLERS = {
    "issuers",
    "clusterissuers",
    "certificates-trigger",
    "certificates-key-manager",
    "certificates-request-manager",
    "certificates-issuing",
    "certificates-readiness",
    "certificates-revision-manager",
    "certificaterequests-approver",
    "certificaterequests-issuer-acme",
    "certificaterequests-issuer-ca",
    "certificaterequests-issuer-selfsigned",
    "orders",
    "challenges",
}


def test_the_controller_runs_every_controller_the_stack_needs_and_nothing_else(
    sandbox: Sandbox, start: Any, tmp_path: Path
) -> None:
    process = start(
        "controller",
        [
            f"--kubeconfig={sandbox.kubeconfig}",
            "--leader-elect=false",
            f"--metrics-listen-address=127.0.0.1:{free_port()}",
            f"--internal-healthz-listen-address=127.0.0.1:{free_port()}",
        ],
    )
    started = until(
        lambda: re.search(r'"?controllers"?=\[([^\]]*)\]', log_of(tmp_path, "controller")),
        seconds=30,
        what="the list of controllers it starts",
        process=process,
    )
    assert set(re.findall(r'"([a-z-]+)"', started.group(1))) == WIRED_CONTROLLERS


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("--no-such-flag", "unknown flag: --no-such-flag"),
        (
            "--controllers=*,certificaterequests-issuer-venafi",
            "--controllers: not in this build: certificaterequests-issuer-venafi",
        ),
    ],
    ids=["unknown-flag", "unwired-controller"],
)
def test_the_controller_refuses_what_it_cannot_run(engine: dict[str, str], arg: str, message: str) -> None:
    done = subprocess.run(
        [engine["MULTISITE_CERT_MANAGER_CONTROLLER"], arg], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert message in done.stderr


def admission_review(uid: str, certificate: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "cert-manager.io", "version": "v1", "kind": "Certificate"},
            "resource": {"group": "cert-manager.io", "version": "v1", "resource": "certificates"},
            "operation": "CREATE",
            "namespace": "default",
            "name": certificate["metadata"]["name"],
            "object": certificate,
            "userInfo": {"username": "test"},
        },
    }


def certificate(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "www", "namespace": "default"},
        "spec": spec,
    }


def test_the_webhook_serves_the_charts_ports_and_paths(
    chart: list[dict[str, Any]], sandbox: Sandbox, kube: Cluster, start: Any
) -> None:
    args = chart_args(chart, "webhook")
    secure = named_port(chart, "webhook", "https")
    health = named_port(chart, "webhook", "healthcheck")
    assert f"--secure-port={secure}" in args
    # The ports are the chart's own (10250 and 6080); only the API server is added.
    process = start("webhook", [*args, f"--kubeconfig={sandbox.kubeconfig}"])
    for probe in ("livenessProbe", "readinessProbe"):
        path = container(chart, "webhook")[probe]["httpGet"]["path"]
        url = f"http://127.0.0.1:{health}{path}"
        until(
            functools.partial(answers_200, url),
            seconds=60,
            what=url,
            process=process,
        )

    # Its serving certificate comes from the CA it keeps in the Secret the chart names.
    ca_secret = next(a.split("=", 1)[1] for a in args if a.startswith("--dynamic-serving-ca-secret-name="))

    def ca() -> str | None:
        data = kube.core.read_namespaced_secret(ca_secret, NAMESPACE).data or {}
        return str(data.get("ca.crt") or "") or None

    ca_b64 = until(ca, seconds=30, what=f"the {ca_secret} Secret", process=process)
    context = ssl.create_default_context(cadata=base64.b64decode(ca_b64).decode())
    context.check_hostname = False  # connected by address; the name is checked below
    # The chart's webhook configurations: the Service name the API server asks for, and the paths.
    hooks = {
        o["kind"]: o["webhooks"][0]["clientConfig"]["service"]
        for o in chart
        if o["kind"] in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
    }
    host = f"{hooks['ValidatingWebhookConfiguration']['name']}.{NAMESPACE}.svc"

    def review(path: str, body: dict[str, Any]) -> dict[str, Any]:
        connection = http.client.HTTPSConnection("127.0.0.1", secure, context=context, timeout=10)
        try:
            connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
            answer = json.load(connection.getresponse())
            peer: Any = connection.sock.getpeercert()
            names = peer["subjectAltName"]
        finally:
            connection.close()
        assert ("DNS", host) in names
        return dict(answer["response"])

    validate, mutate = (
        hooks["ValidatingWebhookConfiguration"]["path"],
        hooks["MutatingWebhookConfiguration"]["path"],
    )
    assert (validate, mutate) == ("/validate", "/mutate")
    good = certificate(secretName="www-tls", dnsNames=["www.example.com"], issuerRef={"name": "letsencrypt"})
    allowed = until(
        lambda: review(validate, admission_review("1", good)), seconds=30, what=validate, process=process
    )
    assert (allowed["uid"], allowed["allowed"]) == ("1", True)
    denied = review(
        validate, admission_review("2", certificate(secretName="www-tls", dnsNames=["www.example.com"]))
    )
    assert (denied["uid"], denied["allowed"]) == ("2", False)
    assert "spec.issuerRef.name: Required value: must be specified" in denied["status"]["message"]
    assert review(mutate, admission_review("3", good))["uid"] == "3"


def test_the_cainjector_runs_with_the_charts_args(
    chart: list[dict[str, Any]], sandbox: Sandbox, kube: Cluster, start: Any
) -> None:
    args = chart_args(chart, "cainjector")
    assert "--leader-election-namespace=kube-system" in args
    process = start(
        "cainjector",
        [*args, f"--kubeconfig={sandbox.kubeconfig}", f"--metrics-listen-address=127.0.0.1:{free_port()}"],
    )
    until(
        lambda: lease_holder(kube, "cert-manager-cainjector-leader-election"),
        seconds=60,
        what="the cert-manager-cainjector-leader-election Lease",
        process=process,
    )


def test_the_acmesolver_answers_its_token_with_the_controllers_args(start: Any) -> None:
    # The args cert-manager's controller gives a solver pod (pkg/issuer/acme/http/pod.go, v1.21.2),
    # on a free port instead of the pod's 8089.
    port = free_port()
    process = start(
        "acmesolver",
        [f"--listen-port={port}", "--domain=www.example.com", "--token=tok3n", "--key=tok3n.thumbprint"],
    )

    def fetch(token: str) -> tuple[int, str]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/.well-known/acme-challenge/{token}", headers={"Host": "www.example.com"}
        )
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, ""

    assert until(lambda: fetch("tok3n"), seconds=30, what="the challenge token", process=process) == (
        200,
        "tok3n.thumbprint",
    )
    assert fetch("other")[0] == 404


def test_the_startupapicheck_runs_the_charts_check(
    chart: list[dict[str, Any]], engine: dict[str, str], sandbox: Sandbox, kube: Cluster
) -> None:
    args = chart_args(chart, "startupapicheck")
    assert args[:2] == ["check", "api"]
    assert "-v" in args  # the chart's default extraArgs
    # The sandbox has cert-manager's CRDs but no webhook registered with the API server, so
    # the dry-run CertificateRequest is stored unmutated: the check must say so, not succeed.
    # The last --wait wins over the chart's 1m.
    done = subprocess.run(
        [
            engine["MULTISITE_CERT_MANAGER_STARTUPAPICHECK"],
            *args,
            f"--kubeconfig={sandbox.kubeconfig}",
            "--wait=3s",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={"POD_NAMESPACE": NAMESPACE},
    )
    assert done.returncode == 1
    unmutated = "the cert-manager mutation webhook did not mutate the dry-run CertificateRequest object"
    assert unmutated in done.stderr
