"""Run the real program against Pulumi's mock engine and record what it registers."""

from __future__ import annotations

import asyncio
import functools
import json
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings

ROOT = Path(__file__).resolve().parent.parent
# A CA certificate for `multisite:acme.caBundle` (tests/fixtures/pki/README.md).
TEST_CA = (ROOT / "tests" / "fixtures" / "pki" / "acme-ca.pem").read_text()
STATIC_IP = "203.0.113.7"
MANAGED_ZONES = {"example-com": "example.com."}
CLUSTER_GATEWAY_BUNDLE = "v1.6.1"
"""The Gateway API bundle version of the CRDs the mocked cluster has (read with `.get`)."""
"""The Cloud DNS zones the mocks know: name -> DNS name (the shipped stacks use `example-com`)."""

# The provider SDKs load a module on first use of one of its names, and
# pulumi_gcp.compute alone takes about 3 s. Loading what the program uses when
# the tests are collected puts that cost in one place, and in mutmut's fork
# server (which collects once, then forks a process per mutant) it is paid once
# instead of once per mutant.
PROGRAM_SDK_NAMES = (
    gcp.compute.Address,
    gcp.container.get_cluster_output,
    gcp.dns.RecordSet,
    k8s.apiextensions.CustomResource,
    k8s.apps.v1.Deployment,
    k8s.core.v1.Namespace,
    k8s.helm.v3.Release,
    k8s.networking.v1.Ingress,
)

# Type tokens of what the program registers, as the engine names them.
PROVIDER = "pulumi:providers:kubernetes"
ADDRESS = "gcp:compute/address:Address"
RECORD = "gcp:dns/recordSet:RecordSet"
RELEASE = "kubernetes:helm.sh/v3:Release"
ISSUER = "kubernetes:cert-manager.io/v1:ClusterIssuer"
CERTIFICATE = "kubernetes:cert-manager.io/v1:Certificate"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"


@dataclass(frozen=True)
class Registered:
    """One resource registration as the engine saw it."""

    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    protect: bool
    retain_on_delete: bool
    provider: str
    dependencies: tuple[str, ...]
    inputs: dict[str, Any]
    """Inputs with secrets unwrapped; `secret_paths` says which were secret."""
    secret_paths: frozenset[tuple[str | int, ...]] = frozenset()
    alias_names: tuple[str, ...] = ()
    alias_types: tuple[str, ...] = ()
    """Type of each alias in `alias_names` ("" where the alias keeps the type)."""
    ignore_changes: tuple[str, ...] = ()
    delete_before_replace: bool = False

    def prop(self, *path: str | int) -> Any:
        """A nested input such as `prop("spec", "tls", 0, "hosts")`."""
        value: Any = self.inputs
        for key in path:
            value = value[key]
        return value


class Recorder(pulumi.runtime.Mocks):
    """Mocks that answer like the cloud would, and a log of every registration."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.call_args: list[dict[str, Any]] = []
        self.zones: dict[str, str] = dict(MANAGED_ZONES)
        self.gateway_bundle: str | None = CLUSTER_GATEWAY_BUNDLE

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        if args.typ == "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition" and args.resource_id:
            # A read (`.get`) of a CRD the cluster has, with its Gateway API bundle version.
            annotations = (
                {"gateway.networking.k8s.io/bundle-version": self.gateway_bundle}
                if self.gateway_bundle
                else {}
            )
            return args.resource_id, {"metadata": {"name": args.resource_id, "annotations": annotations}}
        if args.typ == "gcp:compute/address:Address":
            state["address"] = STATIC_IP
        if args.typ == RELEASE:
            # pulumi-kubernetes' Release outputs `status` (ReleaseStatus) once installed.
            state["status"] = {
                "name": args.inputs.get("name"),
                "namespace": args.inputs.get("namespace"),
                "chart": args.inputs.get("chart"),
                "version": args.inputs.get("version"),
                "revision": 1,
                "status": "deployed",
            }
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        self.calls.append(args.token)
        self.call_args.append(dict(args.args))
        if args.token == "gcp:dns/getManagedZone:getManagedZone":
            if args.args["name"] not in self.zones:
                raise LookupError(f"Cloud DNS: no managed zone named {args.args['name']!r}")
            return {"name": args.args["name"], "dnsName": self.zones[args.args["name"]]}, []
        if args.token == "gcp:container/getCluster:getCluster":
            return {
                "name": args.args["name"],
                "location": args.args["location"],
                "endpoint": "198.51.100.1",
                "masterAuths": [{"clusterCaCertificate": "Q0EtREFUQQ=="}],
            }, []
        return {}, []


def unwrap_secrets(value: Any, path: tuple[str | int, ...] = ()) -> tuple[Any, set[tuple[str | int, ...]]]:
    """`value` with Pulumi's secret wrappers removed, and the paths where they were."""
    if isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig:
        inner, inside = unwrap_secrets(value["value"], path)
        return inner, {path, *inside}
    paths: set[tuple[str | int, ...]] = set()
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out[key], found = unwrap_secrets(item, (*path, key))
            paths |= found
        return out, paths
    if isinstance(value, list):
        items = []
        for i, item in enumerate(value):
            plain, found = unwrap_secrets(item, (*path, i))
            items.append(plain)
            paths |= found
        return items, paths
    return value, paths


class DuplicateUrnError(Exception):
    """Two registrations with one URN: the real engine stops the update half-way on this."""


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """MockMonitor that also keeps each registration's parent, dependencies, protect, aliases
    and secret inputs, and refuses a URN registered twice, as the engine does."""

    def __init__(self, mocks: Recorder) -> None:
        super().__init__(mocks)
        self.registrations: list[Registered] = []
        self.component_outputs: dict[str, dict[str, Any]] = {}

    def RegisterResourceOutputs(self, request: Any) -> Any:
        """A component's `register_outputs`, kept by URN (secrets unwrapped)."""
        outputs, _ = unwrap_secrets(rpc.deserialize_properties(request.outputs))
        self.component_outputs[request.urn] = outputs
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if any(r.urn == response.urn for r in self.registrations):
            raise DuplicateUrnError(f"Duplicate resource URN {response.urn!r}")
        if request.type != "pulumi:pulumi:Stack":
            inputs, secret_paths = unwrap_secrets(rpc.deserialize_properties(request.object))
            self.registrations.append(
                Registered(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent,
                    custom=request.custom,
                    protect=request.protect,
                    retain_on_delete=request.retainOnDelete,
                    provider=request.provider,
                    dependencies=tuple(request.dependencies),
                    inputs=inputs,
                    secret_paths=frozenset(secret_paths),
                    alias_names=tuple(a.spec.name for a in request.aliases if a.HasField("spec")),
                    alias_types=tuple(a.spec.type for a in request.aliases if a.HasField("spec")),
                    ignore_changes=tuple(request.ignoreChanges),
                    delete_before_replace=request.deleteBeforeReplace,
                )
            )
        return response


@dataclass
class ProgramRun:
    """What one run of the program registered and exported."""

    resources: list[Registered]
    outputs: dict[str, Any]
    calls: list[str]
    error: BaseException | None = None
    secret_outputs: frozenset[str] = frozenset()
    """Names of the stack exports that are secret."""
    call_args: tuple[dict[str, Any], ...] = ()
    """The arguments of each call in `calls`."""
    component_outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """What each component registered as its outputs, by URN."""

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> Registered:
        (match,) = [r for r in self.resources if r.name == name]
        return match

    def by_urn(self, urn: str) -> Registered:
        (match,) = [r for r in self.resources if r.urn == urn]
        return match


PROGRAM = ROOT / "__main__.py"


@functools.cache
def program_code() -> types.CodeType:
    """`__main__.py` compiled, once per process.

    runpy compiles the file on every run. Under mutmut the file is its copy
    with every mutant inlined (about 24,000 lines), and compiling it made each
    program run about 0.3 s slower; every test that runs the program pays it.
    Compiled when the tests are collected (below), so mutmut's fork server
    compiles it once for every mutant.
    """
    return compile(PROGRAM.read_text(), str(PROGRAM), "exec")


def load_program() -> Callable[[], None]:
    """The program as Pulumi's Python host runs it: `__main__.py` executed as `__main__`.

    The language host (engine/pulumi-language-python) calls
    `runpy.run_path(program, run_name="__main__")`. This does what that does
    (a fresh module `__main__`, in `sys.modules` while it runs), with the code
    compiled once. It also tests the `if __name__ == "__main__"` guard, and
    gives the program's functions the module name `__main__` that mutmut's
    mutants carry.
    """

    def run() -> None:
        module = types.ModuleType("__main__")
        module.__file__ = str(PROGRAM)
        outer = sys.modules["__main__"]
        sys.modules["__main__"] = module
        try:
            exec(program_code(), module.__dict__)
        finally:
            sys.modules["__main__"] = outer

    return run


program_code()


def lay_out_local_stack(directory: Path) -> None:
    """What `Pulumi.local.yaml` points at, in `directory` (the tests chdir there):
    `.sandbox/kubeconfig` and a `.sandbox/charts` with a chart for each edge and cert-manager."""
    sandbox = directory / ".sandbox"
    sandbox.mkdir()
    (sandbox / "kubeconfig").write_text("apiVersion: v1\n")
    for chart in ("ingress-nginx", "traefik", "cert-manager"):
        (sandbox / "charts" / chart).mkdir(parents=True)
        (sandbox / "charts" / chart / "Chart.yaml").write_text(f"name: {chart}\n")


def stack_config(stack: str) -> dict[str, Any]:
    """The `config:` of a stack file, e.g. `Pulumi.dev.yaml`."""
    import yaml

    with open(ROOT / f"Pulumi.{stack}.yaml") as f:
        return dict(yaml.safe_load(f)["config"])


def record(
    build: Callable[[], Any],
    *,
    config: Mapping[str, Any] | None = None,
    stack: str = "dev",
    project: str = "multisite",
    preview: bool = False,
    secret_keys: Sequence[str] = (),
    zones: Mapping[str, str] = MANAGED_ZONES,
    gateway_bundle: str | None = CLUSTER_GATEWAY_BUNDLE,
) -> ProgramRun:
    """Call `build` under mocks, with `config` (fully qualified keys) set, and record it.

    `secret_keys` are the config keys set with `--secret`; `zones` the Cloud DNS zones
    that exist (name -> DNS name).

    An exception from `build` is returned in `ProgramRun.error`, not raised.
    """
    mocks = Recorder()
    mocks.zones = dict(zones)
    mocks.gateway_bundle = gateway_bundle
    monitor = RecordingMonitor(mocks)
    # A fresh root Stack per run, so exports of an earlier run do not leak in.
    pulumi_settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=preview, monitor=monitor)
    pulumi.runtime.set_all_config(
        {k: v if isinstance(v, str) else json.dumps(v) for k, v in (config or {}).items()},
        list(secret_keys),
    )
    outputs: dict[str, Any] = {}
    secret_outputs: set[str] = set()

    async def note_secrets(exported: dict[str, Any]) -> None:
        for name, value in exported.items():
            if await pulumi.Output.from_input(value).is_secret():
                secret_outputs.add(name)

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> pulumi.Output[Any]:
        build()
        exported = pulumi.runtime.get_root_resource().outputs  # type: ignore[union-attr]
        checked: pulumi.Output[None] = pulumi.Output.from_input(asyncio.ensure_future(note_secrets(exported)))
        return pulumi.Output.all(checked, pulumi.Output.all(**exported).apply(outputs.update))

    error: BaseException | None = None
    try:
        program()
    except Exception as exc:  # kept for the caller: what was registered before it matters
        error = exc
    return ProgramRun(
        list(monitor.registrations),
        outputs,
        mocks.calls,
        error,
        frozenset(secret_outputs),
        call_args=tuple(mocks.call_args),
        component_outputs=dict(monitor.component_outputs),
    )


def run_program(
    config: Mapping[str, Any],
    *,
    stack: str = "dev",
    project: str = "multisite",
    preview: bool = False,
    expect_error: bool = False,
    secret_keys: Sequence[str] = (),
    zones: Mapping[str, str] = MANAGED_ZONES,
    gateway_bundle: str | None = CLUSTER_GATEWAY_BUNDLE,
) -> ProgramRun:
    """Run the whole program (`__main__.main`) under mocks with a stack's config.

    An error is raised unless `expect_error`, in which case it is in `run.error`.
    """
    run = record(
        load_program(),
        config=config,
        stack=stack,
        project=project,
        preview=preview,
        secret_keys=secret_keys,
        zones=zones,
        gateway_bundle=gateway_bundle,
    )
    if run.error is not None and not expect_error:
        raise run.error
    return run


def print_wall_times(config: Any, title: str, timings: dict[str, float]) -> None:
    """Print each step's wall time in the test log, past pytest's capture (pass or fail)."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    if capture is None or not timings:
        return
    with capture.global_and_fixture_disabled():
        print(f"\n{title}:")
        for step, seconds in timings.items():
            print(f"  {step:<45} {seconds:7.1f} s")
