// Command pulumi-language-python is a small Python language host for the
// multisite offline engine, written for this project.
//
// Upstream's language host (module
// github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3) is not
// served by the Go module proxy reachable here, so this one is built from the
// pieces that are: the gRPC protocol, the Python toolchain helpers (virtualenv
// resolution, pip/poetry/uv commands) and the policy-pack proxy, all from
// github.com/pulumi/pulumi/sdk/v3 at the CLI's own version. It implements what
// `pulumi preview/up/destroy/refresh`, `pulumi about` and
// `pulumi preview --policy-pack` call:
//
//   - Run: starts the program with the executor script that sits next to this
//     binary (pulumi-language-python-exec), inside the project's virtualenv,
//     with the stack config in PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS.
//   - RunPlugin: runs a Python policy pack (`python -u -m pulumi.policy
//     <engine> <pack dir>`, in the pack's virtualenv, behind the SDK's policy
//     proxy, which hands the pack the stack's configuration) or a plugin
//     directory's __main__.py.
//   - GetRequiredPackages: reports none. Plugins are then loaded when the
//     program registers a provider, exactly as with the Automation API's
//     inline programs. Reporting the installed SDK packages (as upstream does)
//     would make the engine demand every plugin an installed SDK names
//     (pulumi-gcp's, say) before running, which offline it cannot download.
//   - InstallDependencies, About, GetProgramDependencies, GetPluginInfo,
//     Handshake, Cancel.
//
// Not implemented (the engine gets Unimplemented): code generation
// (GenerateProject/Program/Package, `pulumi convert`, `pulumi new` from
// templates), Pack/Link (`pulumi package add`), type checkers, debugging.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	sdk "github.com/pulumi/pulumi/sdk/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

const (
	// The executor script, installed next to this binary.
	execName = "pulumi-language-python-exec"
	// Exit code of the executor after it has already shown the user an error.
	exitShownToUser = 32
)

func main() {
	showVersion := flag.Bool("version", false, "print the version and exit")
	executor := flag.String("use-executor", "", "executor script to use instead of the one next to this binary")
	// Accepted for compatibility with the engine's command line; unused.
	flag.String("tracing", "", "tracing endpoint (ignored)")
	flag.String("root", "", "project root (ignored; the engine sends it with each request)")
	flag.Parse()
	if *showVersion {
		fmt.Println(version.Version)
		return
	}
	logging.InitLogging(false, 0, false)

	shim := *executor
	if shim == "" {
		self, err := os.Executable()
		if err != nil {
			cmdutil.Exit(fmt.Errorf("locating this executable: %w", err))
		}
		shim = filepath.Join(filepath.Dir(self), execName)
	}
	if _, err := os.Stat(shim); err != nil {
		cmdutil.Exit(fmt.Errorf("missing executor %s (scripts/engine installs it next to %s): %w",
			shim, filepath.Base(os.Args[0]), err))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cancel := make(chan bool)
	go func() { <-ctx.Done(); close(cancel) }()

	var engineAddress string
	if flag.NArg() > 0 {
		engineAddress = flag.Arg(0)
		// Exit when the engine goes away.
		if err := rpcutil.Healthcheck(ctx, engineAddress, 5*time.Minute, stop); err != nil {
			cmdutil.Exit(fmt.Errorf("starting the engine health check: %w", err))
		}
	}

	h := newHost(shim, engineAddress)
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
		Options: rpcutil.TracingServerInterceptorOptions(nil),
	})
	if err != nil {
		cmdutil.Exit(fmt.Errorf("starting the language host server: %w", err))
	}
	// The engine reads the port from our first line of output.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		cmdutil.Exit(fmt.Errorf("language host server stopped: %w", err))
	}
}

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	shim string

	mu            sync.Mutex
	engineAddress string

	// Cancelled by the Cancel RPC: stops running programs and plugins.
	cancelled context.Context
	cancelAll context.CancelFunc
}

func newHost(shim, engineAddress string) *host {
	ctx, cancel := context.WithCancel(context.Background())
	return &host{shim: shim, engineAddress: engineAddress, cancelled: ctx, cancelAll: cancel}
}

func (h *host) engine() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.engineAddress
}

// pythonOptions reads the runtime options of Pulumi.yaml / PulumiPolicy.yaml
// (`virtualenv`, `toolchain`); paths are relative to the project root.
func pythonOptions(info *pulumirpc.ProgramInfo) (toolchain.PythonOptions, error) {
	opts := toolchain.PythonOptions{Root: info.GetRootDirectory(), ProgramDir: info.GetProgramDirectory()}
	var options map[string]any
	if info.GetOptions() != nil {
		options = info.GetOptions().AsMap()
	}
	for key, value := range options {
		text, ok := value.(string)
		if !ok {
			return opts, fmt.Errorf("runtime option %q must be a string, got %v", key, value)
		}
		switch key {
		case "virtualenv":
			opts.Virtualenv = text
		case "toolchain":
			switch text {
			case "pip":
				opts.Toolchain = toolchain.Pip
			case "poetry":
				opts.Toolchain = toolchain.Poetry
			case "uv":
				opts.Toolchain = toolchain.Uv
			default:
				return opts, fmt.Errorf("runtime option toolchain: unsupported value %q (pip, poetry or uv)", text)
			}
		case "typechecker":
			if text != "" {
				return opts, fmt.Errorf("runtime option typechecker=%q is not supported by this language host "+
					"(multisite engine/pulumi-language-python); run the type checker yourself", text)
			}
		}
	}
	return opts, nil
}

func resolve(info *pulumirpc.ProgramInfo) (toolchain.Toolchain, error) {
	opts, err := pythonOptions(info)
	if err != nil {
		return nil, err
	}
	return toolchain.ResolveToolchain(opts)
}

// environ returns the command's environment: base, then the toolchain's own
// (the activated virtualenv wins), then extra.
func environ(cmd *exec.Cmd, base []string, extra ...string) []string {
	env := append([]string{}, base...)
	if cmd.Env != nil {
		env = append(env, cmd.Env...)
	} else if base == nil {
		env = append(env, os.Environ()...)
	}
	return append(env, extra...)
}

func (h *host) Handshake(
	ctx context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	h.engineAddress = req.GetEngineAddress()
	h.mu.Unlock()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

func (h *host) GetRequiredPlugins(
	context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *host) GetRequiredPackages(
	context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *host) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	h.cancelAll()
	return &emptypb.Empty{}, nil
}

// Run runs the program: <venv python> pulumi-language-python-exec --flags... <entry point> <args>.
func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	tc, err := resolve(req.GetInfo())
	if err != nil {
		return nil, err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return nil, err
	}

	args := []string{h.shim}
	flagArg := func(name, value string) {
		if value != "" {
			args = append(args, "--"+name, value)
		}
	}
	flagArg("monitor", req.GetMonitorAddress())
	flagArg("engine", h.engine())
	flagArg("project", req.GetProject())
	flagArg("root_directory", req.GetInfo().GetRootDirectory())
	flagArg("stack", req.GetStack())
	flagArg("pwd", req.GetPwd())
	flagArg("dry_run", strconv.FormatBool(req.GetDryRun()))
	flagArg("parallel", strconv.Itoa(int(req.GetParallel())))
	flagArg("organization", req.GetOrganization())
	entry := req.GetInfo().GetEntryPoint()
	if entry == "" {
		entry = "."
	}
	args = append(args, entry)
	args = append(args, req.GetArgs()...)

	config, err := json.Marshal(req.GetConfig())
	if err != nil {
		return nil, fmt.Errorf("serializing the stack configuration: %w", err)
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secrets, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, fmt.Errorf("serializing the secret configuration keys: %w", err)
	}

	runCtx, stopRun := context.WithCancel(h.cancelled)
	defer stopRun()
	context.AfterFunc(ctx, stopRun)
	cmd, err := tc.Command(runCtx, args...)
	if err != nil {
		return nil, err
	}
	cmd.Env = environ(cmd, nil, "PULUMI_CONFIG="+string(config), "PULUMI_CONFIG_SECRET_KEYS="+string(secrets))
	// The engine shows the host's output to the user.
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	logging.V(5).Infof("running program: %v", cmd.Args)

	if err := cmd.Run(); err != nil {
		_ = os.Stdout.Sync()
		_ = os.Stderr.Sync()
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not run the Python executor: %v", err)}, nil
		}
		if exitErr.ExitCode() == exitShownToUser {
			return &pulumirpc.RunResponse{Bail: true}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("program exited with non-zero exit code: %d",
			exitErr.ExitCode())}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// RunPlugin runs a Python policy pack (kind "analyzer") or a plugin directory's __main__.py.
func (h *host) RunPlugin(req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer) error {
	ctx := server.Context()
	tc, err := resolve(req.GetInfo())
	if err != nil {
		return err
	}
	dir := req.GetInfo().GetProgramDirectory()
	analyzer := req.GetKind() == string(apitype.AnalyzerPlugin)

	var args []string
	if analyzer {
		// The policy pack entry point of pulumi-policy; the pack directory comes last.
		args = append([]string{"-u", "-m", "pulumi.policy"}, req.GetArgs()...)
		args = append(args, dir)
	} else {
		args = append([]string{dir}, req.GetArgs()...)
	}
	runCtx, stopRun := context.WithCancel(h.cancelled)
	defer stopRun()
	context.AfterFunc(ctx, stopRun)
	cmd, err := tc.Command(runCtx, args...)
	if err != nil {
		return err
	}
	cmd.Dir = req.GetPwd()
	if analyzer {
		// Policy packs have always run in their own directory.
		cmd.Dir = dir
	}

	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()

	var extra []string
	var proxy *sdk.PolicyProxy
	if analyzer {
		// The engine talks to the SDK's proxy first (its port goes out on
		// stdout) and sends the stack's configuration, which the pack reads
		// from the environment; the proxy then forwards to the pack.
		proxy, stdout, err = sdk.NewPolicyProxy(ctx, stdout)
		if err != nil {
			return fmt.Errorf("starting the policy pack proxy: %w", err)
		}
		config, err := proxy.AwaitConfiguration(ctx)
		if err != nil {
			return fmt.Errorf("waiting for the stack configuration: %w", err)
		}
		if config != nil {
			set := func(key, value string) {
				if value != "" {
					extra = append(extra, key+"="+value)
				}
			}
			set("PULUMI_ORGANIZATION", config.GetOrganization())
			set("PULUMI_PROJECT", config.GetProject())
			set("PULUMI_STACK", config.GetStack())
			set("PULUMI_DRY_RUN", strconv.FormatBool(config.GetDryRun()))
			if config.GetConfig() != nil {
				data, err := json.Marshal(config.GetConfig())
				if err != nil {
					return fmt.Errorf("serializing the stack configuration: %w", err)
				}
				set("PULUMI_CONFIG", string(data))
			}
		}
	}
	cmd.Env = environ(cmd, req.GetEnv(), extra...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	logging.V(5).Infof("running plugin: %v in %s", cmd.Args, cmd.Dir)

	if err := cmd.Start(); err != nil {
		if proxy != nil {
			proxy.Abort(err)
		}
		return fmt.Errorf("could not start the plugin: %w", err)
	}
	if proxy != nil {
		err = proxy.Attach(ctx, cmd) // waits for the process
	} else {
		err = cmd.Wait()
	}
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if status, ok := exitErr.Sys().(syscall.WaitStatus); ok {
				return server.Send(&pulumirpc.RunPluginResponse{
					Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(status.ExitStatus())},
				})
			}
		}
		return fmt.Errorf("running the plugin: %w", err)
	}
	return closer.Close()
}

func (h *host) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	tc, err := resolve(req.GetInfo())
	if err != nil {
		return err
	}
	closer, stdout, stderr, err := rpcutil.MakeInstallDependenciesStreams(server, req.GetIsTerminal())
	if err != nil {
		return err
	}
	defer closer.Close()
	fmt.Fprintln(stdout, "Installing dependencies...")
	if err := tc.InstallDependencies(server.Context(), req.GetInfo().GetProgramDirectory(),
		req.GetUseLanguageVersionTools(), true, stdout, stderr); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "Finished installing dependencies")
	return closer.Close()
}

func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	opts := toolchain.PythonOptions{Toolchain: toolchain.Pip}
	if req.GetInfo() != nil {
		var err error
		if opts, err = pythonOptions(req.GetInfo()); err != nil {
			return nil, err
		}
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return nil, err
	}
	info, err := tc.About(ctx)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{
		Executable: info.PythonExecutable,
		Version:    info.PythonVersion.String(),
		Metadata: map[string]string{
			"toolchain":        toolchain.Name(opts.Toolchain),
			"toolchainVersion": info.ToolchainVersion.String(),
		},
	}, nil
}

func (h *host) GetProgramDependencies(
	ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	tc, err := resolve(req.GetInfo())
	if err != nil {
		return nil, err
	}
	packages, err := tc.ListPackages(ctx, req.GetTransitiveDependencies())
	if err != nil {
		return nil, fmt.Errorf("listing the Python packages: %w", err)
	}
	deps := make([]*pulumirpc.DependencyInfo, 0, len(packages))
	for _, p := range packages {
		deps = append(deps, &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version})
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

// RuntimeOptionsPrompts: no questions to ask (`pulumi new` would otherwise call it).
func (h *host) RuntimeOptionsPrompts(
	context.Context, *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}
