// Command cert-manager-controller is the sandbox's cert-manager controller:
// cert-manager's own controllers (from the served module's pkg/controller),
// wired by this project for what the multisite stack uses.
//
// Registered: Issuers and ClusterIssuers; the Certificate controllers
// (trigger, key manager, request manager, issuing, readiness, revision
// manager); CertificateRequest approval and its ACME, CA and self-signed
// issuers; ACME Orders and Challenges (HTTP-01 through Ingresses and, with
// --enable-gateway-api, Gateway API HTTPRoutes). Left out: the Vault and
// Venafi issuers (Venafi's client library is not served by the module proxy),
// the ingress and Gateway certificate shims (the stack writes its
// Certificates itself), the CertificateSigningRequest controllers and the
// certificate metrics controller. `--controllers` selects among the
// registered ones: `*` is all of them, `-name` removes one.
//
// The flags are those of upstream's controller that its Helm chart passes,
// plus what running out of a cluster needs, with upstream's defaults. A
// --config file is refused: cert-manager's loader for it also compiles the
// Venafi issuer.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	cliflag "k8s.io/component-base/cli/flag"
	logsapi "k8s.io/component-base/logs/api/v1"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager"
	"github.com/cert-manager/cert-manager/pkg/controller"
	"github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	"github.com/cert-manager/cert-manager/pkg/healthz"
	dnsutil "github.com/cert-manager/cert-manager/pkg/issuer/acme/dns/util"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/server"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"

	"github.com/cert-manager/cert-manager/multisite-sandbox/run"

	// Each package registers its controllers with pkg/controller.
	_ "github.com/cert-manager/cert-manager/pkg/controller/acmechallenges"
	_ "github.com/cert-manager/cert-manager/pkg/controller/acmeorders"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/acme"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	// The issuer types the Issuer and ClusterIssuer controllers set up.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/acme"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

const component = "controller"

// options are the controller's settings, with upstream's defaults
// (internal/apis/config/controller/v1alpha1/defaults.go of v1.21.2).
type options struct {
	config        string
	apiServerHost string
	kubeconfig    string
	qps           float32
	burst         int

	namespace                string
	clusterResourceNamespace string

	leaderElect   bool
	leaderNS      string
	leaseDuration time.Duration
	renewDeadline time.Duration
	retryPeriod   time.Duration

	controllers             []string
	workers                 int
	maxConcurrentChallenges int

	solverImage          string
	solverRequestCPU     string
	solverRequestMemory  string
	solverLimitsCPU      string
	solverLimitsMemory   string
	solverRunAsNonRoot   bool
	solverRuntimeClass   string
	solverNameservers    []string
	solverExtraLabels    map[string]string
	dns01Nameservers     []string
	dns01NameserversOnly bool
	dns01RetryPeriod     time.Duration

	clusterIssuerAmbientCredentials bool
	issuerAmbientCredentials        bool
	defaultIssuerName               string
	defaultIssuerKind               string
	defaultIssuerGroup              string
	autoCertificateAnnotations      []string

	enableCertificateOwnerRef bool
	copiedAnnotationPrefixes  []string
	enableGatewayAPI          bool
	featureGates              map[string]bool
	minBackoff                time.Duration
	maxBackoff                time.Duration

	metricsAddress string
	healthzAddress string
	healthzTimeout time.Duration
	logging        *logsapi.LoggingConfiguration
}

func newOptions() *options {
	return &options{
		qps:                             20,
		burst:                           50,
		clusterResourceNamespace:        "kube-system",
		leaderElect:                     true,
		leaderNS:                        "kube-system",
		leaseDuration:                   60 * time.Second,
		renewDeadline:                   40 * time.Second,
		retryPeriod:                     15 * time.Second,
		controllers:                     []string{"*"},
		workers:                         5,
		maxConcurrentChallenges:         60,
		solverImage:                     "quay.io/jetstack/cert-manager-acmesolver:canary",
		solverRequestCPU:                "10m",
		solverRequestMemory:             "64Mi",
		solverLimitsCPU:                 "100m",
		solverLimitsMemory:              "64Mi",
		solverRunAsNonRoot:              true,
		dns01RetryPeriod:                10 * time.Second,
		clusterIssuerAmbientCredentials: true,
		defaultIssuerKind:               "Issuer",
		defaultIssuerGroup:              cmapi.GroupName,
		autoCertificateAnnotations:      []string{"kubernetes.io/tls-acme"},
		copiedAnnotationPrefixes:        []string{"*", "-kubectl.kubernetes.io/", "-fluxcd.io/", "-argocd.argoproj.io/"},
		minBackoff:                      time.Hour,
		maxBackoff:                      32 * time.Hour,
		metricsAddress:                  "0.0.0.0:9402",
		healthzAddress:                  "0.0.0.0:9403",
		healthzTimeout:                  20 * time.Second,
		logging:                         logsapi.NewLoggingConfiguration(),
	}
}

func (o *options) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.config, "config", "", "a ControllerConfiguration file (refused by this build)")
	fs.StringVar(&o.apiServerHost, "master", "", "the API server's address (default: in-cluster or --kubeconfig)")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "a kubeconfig file (default: in-cluster)")
	fs.Float32Var(&o.qps, "kube-api-qps", o.qps, "queries per second to the API server")
	fs.IntVar(&o.burst, "kube-api-burst", o.burst, "burst of queries to the API server")
	fs.StringVar(&o.namespace, "namespace", "", "watch this namespace only (default: all)")
	fs.StringVar(&o.clusterResourceNamespace, "cluster-resource-namespace", o.clusterResourceNamespace,
		"where the Secrets of ClusterIssuers live")

	fs.BoolVar(&o.leaderElect, "leader-elect", o.leaderElect, "run leader election before the controllers")
	fs.StringVar(&o.leaderNS, "leader-election-namespace", o.leaderNS, "namespace of the leader election Lease")
	fs.DurationVar(&o.leaseDuration, "leader-election-lease-duration", o.leaseDuration, "leader election lease duration")
	fs.DurationVar(&o.renewDeadline, "leader-election-renew-deadline", o.renewDeadline, "leader election renew deadline")
	fs.DurationVar(&o.retryPeriod, "leader-election-retry-period", o.retryPeriod, "leader election retry period")

	fs.StringSliceVar(&o.controllers, "controllers", o.controllers,
		"controllers to run: * for all registered ones, -name to leave one out; registered: "+
			strings.Join(registered(), ", "))
	fs.IntVar(&o.workers, "concurrent-workers", o.workers, "workers per controller")
	fs.IntVar(&o.maxConcurrentChallenges, "max-concurrent-challenges", o.maxConcurrentChallenges,
		"challenges processed at once")

	fs.StringVar(&o.solverImage, "acme-http01-solver-image", o.solverImage, "the HTTP-01 solver pods' image")
	fs.StringVar(&o.solverRequestCPU, "acme-http01-solver-resource-request-cpu", o.solverRequestCPU, "solver CPU request")
	fs.StringVar(&o.solverRequestMemory, "acme-http01-solver-resource-request-memory", o.solverRequestMemory, "solver memory request")
	fs.StringVar(&o.solverLimitsCPU, "acme-http01-solver-resource-limits-cpu", o.solverLimitsCPU, "solver CPU limit")
	fs.StringVar(&o.solverLimitsMemory, "acme-http01-solver-resource-limits-memory", o.solverLimitsMemory, "solver memory limit")
	fs.BoolVar(&o.solverRunAsNonRoot, "acme-http01-solver-run-as-non-root", o.solverRunAsNonRoot, "solver pods run as non-root")
	fs.StringVar(&o.solverRuntimeClass, "acme-http01-solver-runtime-class-name", "", "solver pods' runtimeClassName")
	fs.StringSliceVar(&o.solverNameservers, "acme-http01-solver-nameservers", nil,
		"nameservers (host:port) for the HTTP-01 self-check")
	fs.StringToStringVar(&o.solverExtraLabels, "acme-http01-solver-extra-labels", nil, "extra labels on solver resources")
	fs.StringSliceVar(&o.dns01Nameservers, "dns01-recursive-nameservers", nil, "recursive nameservers for DNS-01 checks")
	fs.BoolVar(&o.dns01NameserversOnly, "dns01-recursive-nameservers-only", false, "use only the recursive nameservers")
	fs.DurationVar(&o.dns01RetryPeriod, "dns01-check-retry-period", o.dns01RetryPeriod, "DNS-01 check retry period")

	fs.BoolVar(&o.clusterIssuerAmbientCredentials, "cluster-issuer-ambient-credentials",
		o.clusterIssuerAmbientCredentials, "ClusterIssuers may use ambient credentials")
	fs.BoolVar(&o.issuerAmbientCredentials, "issuer-ambient-credentials", false, "Issuers may use ambient credentials")
	fs.StringVar(&o.defaultIssuerName, "default-issuer-name", "", "the certificate shims' default issuer")
	fs.StringVar(&o.defaultIssuerKind, "default-issuer-kind", o.defaultIssuerKind, "its kind")
	fs.StringVar(&o.defaultIssuerGroup, "default-issuer-group", o.defaultIssuerGroup, "its group")
	fs.StringSliceVar(&o.autoCertificateAnnotations, "auto-certificate-annotations", o.autoCertificateAnnotations,
		"annotations that ask the shims for a certificate")

	fs.BoolVar(&o.enableCertificateOwnerRef, "enable-certificate-owner-ref", false,
		"a Certificate owns its Secret (deleted with it)")
	fs.StringSliceVar(&o.copiedAnnotationPrefixes, "copied-annotation-prefixes", o.copiedAnnotationPrefixes,
		"annotations copied from Certificates to CertificateRequests and Orders")
	fs.BoolVar(&o.enableGatewayAPI, "enable-gateway-api", false, "solve HTTP-01 through Gateway API HTTPRoutes too")
	fs.Var(cliflag.NewMapStringBool(&o.featureGates), "feature-gates",
		"key=value pairs of feature gates:\n"+strings.Join(utilfeature.DefaultFeatureGate.KnownFeatures(), "\n"))
	fs.DurationVar(&o.minBackoff, "certificate-request-minimum-backoff-duration", o.minBackoff,
		"first wait after a failed request")
	fs.DurationVar(&o.maxBackoff, "certificate-request-maximum-backoff-duration", o.maxBackoff,
		"longest wait after failed requests")

	fs.StringVar(&o.metricsAddress, "metrics-listen-address", o.metricsAddress, "metrics address (0 disables)")
	fs.StringVar(&o.healthzAddress, "internal-healthz-listen-address", o.healthzAddress, "health check address")
	fs.DurationVar(&o.healthzTimeout, "internal-healthz-leader-election-timeout", o.healthzTimeout,
		"how long a lost lease may go unrenewed before /livez fails")
	logf.AddFlags(o.logging, fs)
}

// registered lists the controllers this binary can run.
func registered() []string {
	names := make([]string, 0, len(controller.Known()))
	for name := range controller.Known() {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// enabled resolves --controllers against the registered controllers.
func (o *options) enabled() (sets.Set[string], error) {
	known := sets.New(registered()...)
	on, off := sets.New[string](), sets.New[string]()
	for _, name := range o.controllers {
		switch {
		case name == "*":
			on = on.Union(known)
		case strings.HasPrefix(name, "-"):
			off.Insert(strings.TrimPrefix(name, "-"))
		default:
			on.Insert(name)
		}
	}
	if on.Len() == 0 && off.Len() > 0 {
		on = on.Union(known)
	}
	// The chart may name controllers this build leaves out (for example
	// `-certificaterequests-approver` is registered, `-venafi` is not): leaving
	// one out is harmless, asking for one is an error.
	if unknown := on.Difference(known); unknown.Len() > 0 {
		return nil, fmt.Errorf("--controllers: not in this build: %s (registered: %s)",
			strings.Join(sets.List(unknown), ", "), strings.Join(registered(), ", "))
	}
	if o.namespace != "" {
		off.Insert(clusterissuers.ControllerName)
	}
	return on.Difference(off), nil
}

func (o *options) validate() error {
	if o.config != "" {
		return errors.New("--config: configuration files are not supported by this build " +
			"(cert-manager's loader for them compiles the Venafi issuer, left out here); pass flags")
	}
	if err := utilfeature.DefaultMutableFeatureGate.SetFromMap(o.featureGates); err != nil {
		return fmt.Errorf("--feature-gates: %w", err)
	}
	if err := logf.ValidateAndApply(o.logging); err != nil {
		return err
	}
	if o.renewDeadline >= o.leaseDuration {
		return fmt.Errorf("--leader-election-renew-deadline (%s) must be less than --leader-election-lease-duration (%s)",
			o.renewDeadline, o.leaseDuration)
	}
	return nil
}

func (o *options) contextOptions() (controller.ContextOptions, error) {
	quantities := map[string]*resource.Quantity{}
	for flag, value := range map[string]string{
		"acme-http01-solver-resource-request-cpu":    o.solverRequestCPU,
		"acme-http01-solver-resource-request-memory": o.solverRequestMemory,
		"acme-http01-solver-resource-limits-cpu":     o.solverLimitsCPU,
		"acme-http01-solver-resource-limits-memory":  o.solverLimitsMemory,
	} {
		q, err := resource.ParseQuantity(value)
		if err != nil {
			return controller.ContextOptions{}, fmt.Errorf("--%s=%q: %w", flag, value, err)
		}
		quantities[flag] = &q
	}
	dns01 := o.dns01Nameservers
	if len(dns01) == 0 {
		dns01 = dnsutil.RecursiveNameservers // resolv.conf, as upstream
	}
	return controller.ContextOptions{
		APIServerHost:      o.apiServerHost,
		Kubeconfig:         o.kubeconfig,
		KubernetesAPIQPS:   o.qps,
		KubernetesAPIBurst: o.burst,
		Namespace:          o.namespace,
		IssuerOptions: controller.IssuerOptions{
			ClusterResourceNamespace:        o.clusterResourceNamespace,
			ClusterIssuerAmbientCredentials: o.clusterIssuerAmbientCredentials,
			IssuerAmbientCredentials:        o.issuerAmbientCredentials,
		},
		ACMEOptions: controller.ACMEOptions{
			HTTP01SolverImage:                 o.solverImage,
			HTTP01SolverResourceRequestCPU:    *quantities["acme-http01-solver-resource-request-cpu"],
			HTTP01SolverResourceRequestMemory: *quantities["acme-http01-solver-resource-request-memory"],
			HTTP01SolverResourceLimitsCPU:     *quantities["acme-http01-solver-resource-limits-cpu"],
			HTTP01SolverResourceLimitsMemory:  *quantities["acme-http01-solver-resource-limits-memory"],
			ACMEHTTP01SolverRunAsNonRoot:      o.solverRunAsNonRoot,
			HTTP01SolverRuntimeClassName:      o.solverRuntimeClass,
			HTTP01SolverNameservers:           o.solverNameservers,
			HTTP01SolverExtraLabels:           o.solverExtraLabels,
			DNS01CheckAuthoritative:           !o.dns01NameserversOnly,
			DNS01Nameservers:                  dns01,
			DNS01CheckRetryPeriod:             o.dns01RetryPeriod,
		},
		IngressShimOptions: controller.IngressShimOptions{
			DefaultIssuerName:                 o.defaultIssuerName,
			DefaultIssuerKind:                 o.defaultIssuerKind,
			DefaultIssuerGroup:                o.defaultIssuerGroup,
			DefaultAutoCertificateAnnotations: o.autoCertificateAnnotations,
			GatewayAPIExtraProtocols:          sets.New[string](),
		},
		CertificateOptions: controller.CertificateOptions{
			EnableOwnerRef:                           o.enableCertificateOwnerRef,
			CopiedAnnotationPrefixes:                 o.copiedAnnotationPrefixes,
			CertificateRequestMinimumBackoffDuration: o.minBackoff,
			CertificateRequestMaximumBackoffDuration: o.maxBackoff,
		},
		SchedulerOptions: controller.SchedulerOptions{MaxConcurrentChallenges: o.maxConcurrentChallenges},
		ConfigOptions:    controller.ConfigOptions{EnableGatewayAPI: o.enableGatewayAPI},
	}, nil
}

func main() {
	run.Main(component, func(ctx context.Context) error {
		o := newOptions()
		fs := pflag.NewFlagSet("cert-manager-"+component, pflag.ContinueOnError)
		o.addFlags(fs)
		version := run.AddVersionFlag(fs)
		if err := run.Usage(run.Parse(component, fs, version, os.Args[1:])); err != nil {
			return err
		}
		if err := run.Usage(o.validate()); err != nil {
			return err
		}
		enabled, err := o.enabled()
		if err != nil {
			return run.Usage(err)
		}
		contextOptions, err := o.contextOptions()
		if err != nil {
			return run.Usage(err)
		}
		return serve(ctx, o, contextOptions, enabled)
	})
}

// serve runs the metrics and health servers, wins the leader election (when
// enabled), then runs every enabled controller until ctx ends.
func serve(rootCtx context.Context, o *options, contextOptions controller.ContextOptions, enabled sets.Set[string]) error {
	log := logf.FromContext(rootCtx)
	log.Info("starting", "version", run.Version(component), "controllers", sets.List(enabled))
	ctxFactory, err := controller.NewContextFactory(rootCtx, contextOptions)
	if err != nil {
		return err
	}
	cmctx, err := ctxFactory.Build()
	if err != nil {
		return err
	}
	g, rootCtx := errgroup.WithContext(rootCtx)

	if o.metricsAddress != "0" {
		listener, err := server.Listen(rootCtx, "tcp", o.metricsAddress)
		if err != nil {
			return fmt.Errorf("--metrics-listen-address=%s: %w", o.metricsAddress, err)
		}
		cmctx.Metrics.SetupACMECollector(cmctx.SharedInformerFactory.Acme().V1().Challenges().Lister())
		cmctx.Metrics.SetupCertificateCollector(cmctx.SharedInformerFactory.Certmanager().V1().Certificates().Lister())
		cmctx.Metrics.SetupIssuerCollector(cmctx.SharedInformerFactory.Certmanager().V1().Issuers().Lister())
		if enabled.Has(clusterissuers.ControllerName) {
			cmctx.Metrics.SetupClusterIssuerCollector(cmctx.SharedInformerFactory.Certmanager().V1().ClusterIssuers().Lister())
		}
		serveHTTP(rootCtx, g, cmctx.Metrics.NewServer(listener), listener)
	}

	healthzListener, err := (&net.ListenConfig{}).Listen(rootCtx, "tcp", o.healthzAddress)
	if err != nil {
		return fmt.Errorf("--internal-healthz-listen-address=%s: %w", o.healthzAddress, err)
	}
	health := healthz.NewServer(o.healthzTimeout)
	g.Go(func() error { return health.Start(rootCtx, healthzListener) })

	elected := make(chan struct{})
	if o.leaderElect {
		g.Go(func() error { return lead(rootCtx, o, ctxFactory, health, elected) })
	} else {
		close(elected)
	}
	select {
	case <-rootCtx.Done():
		return g.Wait()
	case <-elected:
	}

	for name, construct := range controller.Known() {
		if !enabled.Has(name) {
			continue
		}
		ctrl, err := construct(ctxFactory)
		if err != nil {
			return fmt.Errorf("controller %s: %w", name, err)
		}
		g.Go(func() error { return ctrl.Run(o.workers, rootCtx) })
	}
	cmctx.SharedInformerFactory.Start(rootCtx.Done())
	cmctx.KubeSharedInformerFactory.Start(rootCtx.Done())
	cmctx.HTTP01ResourceMetadataInformersFactory.Start(rootCtx.Done())
	if o.enableGatewayAPI {
		cmctx.GWShared.Start(rootCtx.Done())
	}
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// serveHTTP serves srv on listener until ctx ends, then shuts it down.
func serveHTTP(ctx context.Context, g *errgroup.Group, srv *http.Server, listener net.Listener) {
	g.Go(func() error {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown) //nolint:contextcheck // ctx is already done
	})
	g.Go(func() error {
		if err := srv.Serve(listener); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
}

// lead holds the `cert-manager-controller` Lease, closing elected once it is
// won; losing it afterwards is an error (the process exits and restarts).
func lead(ctx context.Context, o *options, factory *controller.ContextFactory, health *healthz.Server, elected chan struct{}) error {
	leCtx, err := factory.Build("leader-election")
	if err != nil {
		return err
	}
	host, err := os.Hostname()
	if err != nil {
		return err
	}
	lock, err := resourcelock.NewWithLabels(resourcelock.LeasesResourceLock, o.leaderNS, "cert-manager-controller",
		leCtx.Client.CoreV1(), leCtx.Client.CoordinationV1(),
		resourcelock.ResourceLockConfig{Identity: host + "-external-cert-manager-controller", EventRecorder: leCtx.Recorder},
		map[string]string{"app.kubernetes.io/managed-by": "cert-manager"})
	if err != nil {
		return err
	}
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   o.leaseDuration,
		RenewDeadline:   o.renewDeadline,
		RetryPeriod:     o.retryPeriod,
		ReleaseOnCancel: true,
		WatchDog:        health.LeaderHealthzAdaptor,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { close(elected) },
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		return err
	}
	elector.Run(ctx) // returns when ctx ends or the lease is lost
	if ctx.Err() == nil {
		return errors.New("leader election lost")
	}
	return nil
}
