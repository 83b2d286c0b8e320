// Command cert-manager-cainjector is the sandbox's CA injector: the served
// module's injectors (pkg/controller/cainjector) copy a CA into webhook
// configurations, CRDs and APIServices annotated for it, which is how the
// API server learns to trust cert-manager's webhook. Flags and the
// configuration file are upstream's (internal/apis/config/cainjector,
// defaults included), without metrics TLS and profiling, which the stack
// does not use. Metrics are served on --metrics-listen-address ("0": off).
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	kscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	cliflag "k8s.io/component-base/cli/flag"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	config "github.com/cert-manager/cert-manager/internal/apis/config/cainjector"
	configscheme "github.com/cert-manager/cert-manager/internal/apis/config/cainjector/scheme"
	"github.com/cert-manager/cert-manager/internal/apis/config/cainjector/validation"
	configv1alpha1 "github.com/cert-manager/cert-manager/pkg/apis/config/cainjector/v1alpha1"
	cainjectorconfigfile "github.com/cert-manager/cert-manager/pkg/cainjector/configfile"
	cmscheme "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned/scheme"
	"github.com/cert-manager/cert-manager/pkg/controller/cainjector"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"

	"github.com/cert-manager/cert-manager/multisite-sandbox/run"
)

const component = "cainjector"

// defaults is upstream's defaulted configuration (its v1alpha1 defaults).
func defaults() (*config.CAInjectorConfiguration, error) {
	scheme, _, err := configscheme.NewSchemeAndCodecs()
	if err != nil {
		return nil, err
	}
	versioned := &configv1alpha1.CAInjectorConfiguration{}
	scheme.Default(versioned)
	c := &config.CAInjectorConfiguration{}
	return c, scheme.Convert(versioned, c, nil)
}

func addFlags(fs *pflag.FlagSet, c *config.CAInjectorConfiguration, configPath *string) {
	fs.StringVar(configPath, "config", "", "a CAInjectorConfiguration file")
	fs.StringVar(&c.KubeConfig, "kubeconfig", c.KubeConfig, "a kubeconfig file (default: in-cluster)")
	fs.StringVar(&c.Namespace, "namespace", c.Namespace, "inject in this namespace only (default: all)")
	fs.StringSliceVar(&c.IgnoreNamespaces, "ignore-namespaces", c.IgnoreNamespaces, "namespaces to leave alone")
	fs.BoolVar(&c.LeaderElectionConfig.Enabled, "leader-elect", c.LeaderElectionConfig.Enabled, "run leader election")
	fs.StringVar(&c.LeaderElectionConfig.Namespace, "leader-election-namespace", c.LeaderElectionConfig.Namespace,
		"namespace of the leader election Lease")
	fs.DurationVar(&c.LeaderElectionConfig.LeaseDuration, "leader-election-lease-duration",
		c.LeaderElectionConfig.LeaseDuration, "leader election lease duration")
	fs.DurationVar(&c.LeaderElectionConfig.RenewDeadline, "leader-election-renew-deadline",
		c.LeaderElectionConfig.RenewDeadline, "leader election renew deadline")
	fs.DurationVar(&c.LeaderElectionConfig.RetryPeriod, "leader-election-retry-period",
		c.LeaderElectionConfig.RetryPeriod, "leader election retry period")
	fs.BoolVar(&c.EnableDataSourceConfig.Certificates, "enable-certificates-data-source",
		c.EnableDataSourceConfig.Certificates, "inject from Certificates too (cert-manager.io/inject-ca-from)")
	fs.BoolVar(&c.EnableInjectableConfig.ValidatingWebhookConfigurations, "enable-validatingwebhookconfigurations-injectable",
		c.EnableInjectableConfig.ValidatingWebhookConfigurations, "inject into ValidatingWebhookConfigurations")
	fs.BoolVar(&c.EnableInjectableConfig.MutatingWebhookConfigurations, "enable-mutatingwebhookconfigurations-injectable",
		c.EnableInjectableConfig.MutatingWebhookConfigurations, "inject into MutatingWebhookConfigurations")
	fs.BoolVar(&c.EnableInjectableConfig.CustomResourceDefinitions, "enable-customresourcedefinitions-injectable",
		c.EnableInjectableConfig.CustomResourceDefinitions, "inject into CustomResourceDefinitions")
	fs.BoolVar(&c.EnableInjectableConfig.APIServices, "enable-apiservices-injectable",
		c.EnableInjectableConfig.APIServices, "inject into APIServices")
	fs.StringVar(&c.MetricsListenAddress, "metrics-listen-address", c.MetricsListenAddress, "metrics address (0 disables)")
	fs.Var(cliflag.NewMapStringBool(&c.FeatureGates), "feature-gates",
		"key=value pairs of feature gates:\n"+strings.Join(utilfeature.DefaultFeatureGate.KnownFeatures(), "\n"))
	logf.AddFlags(&c.Logging, fs)
}

func main() {
	run.Main(component, func(ctx context.Context) error {
		args := os.Args[1:]
		c, err := defaults()
		if err != nil {
			return err
		}
		var configPath string
		fs := pflag.NewFlagSet("cert-manager-"+component, pflag.ContinueOnError)
		addFlags(fs, c, &configPath)
		version := run.AddVersionFlag(fs)
		if err := run.Usage(run.Parse(component, fs, version, args)); err != nil {
			return err
		}
		file := cainjectorconfigfile.New()
		if err := run.Usage(run.LoadConfigFile(configPath, file, func() { file.Config.DeepCopyInto(c) }, fs, args)); err != nil {
			return err
		}
		if err := utilfeature.DefaultMutableFeatureGate.SetFromMap(c.FeatureGates); err != nil {
			return run.Usage(fmt.Errorf("--feature-gates: %w", err))
		}
		if errs := validation.ValidateCAInjectorConfiguration(c, nil); len(errs) > 0 {
			return run.Usage(errs.ToAggregate())
		}
		if err := logf.ValidateAndApply(&c.Logging); err != nil {
			return run.Usage(err)
		}
		ctrl.SetLogger(logf.Log) // controller-runtime logs through cert-manager's logger
		logf.FromContext(ctx).Info("starting", "version", run.Version(component))
		return inject(ctx, c)
	})
}

// inject runs the injectors in a controller-runtime manager until ctx ends.
func inject(ctx context.Context, c *config.CAInjectorConfiguration) error {
	restConfig, err := clientcmd.BuildConfigFromFlags("", c.KubeConfig)
	if err != nil {
		return err
	}
	restConfig = util.RestConfigWithUserAgent(restConfig, component)
	scheme := runtime.NewScheme()
	utilruntime.Must(kscheme.AddToScheme(scheme))
	utilruntime.Must(cmscheme.AddToScheme(scheme))
	utilruntime.Must(apiextensionsv1.AddToScheme(scheme))
	utilruntime.Must(apiregistrationv1.AddToScheme(scheme))
	var namespaces map[string]cache.Config
	if c.Namespace != "" {
		namespaces = map[string]cache.Config{c.Namespace: {}}
	}
	le := c.LeaderElectionConfig
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme: scheme,
		Cache:  cache.Options{ReaderFailOnMissingInformer: true, DefaultNamespaces: namespaces},
		// Secrets are read directly: caching every Secret of the cluster is what upstream avoids too.
		Client:                        client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
		LeaderElection:                le.Enabled,
		LeaderElectionNamespace:       le.Namespace,
		LeaderElectionID:              "cert-manager-cainjector-leader-election",
		LeaderElectionReleaseOnCancel: true,
		LeaderElectionResourceLock:    resourcelock.LeasesResourceLock,
		LeaseDuration:                 &le.LeaseDuration,
		RenewDeadline:                 &le.RenewDeadline,
		RetryPeriod:                   &le.RetryPeriod,
		Metrics:                       metricsserver.Options{BindAddress: c.MetricsListenAddress},
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if c.EnableDataSourceConfig.Certificates {
		if err := waitForCertificateCRD(ctx, mgr); err != nil {
			return err
		}
	}
	err = cainjector.RegisterAllInjectors(ctx, mgr, cainjector.SetupOptions{
		Namespace:                    c.Namespace,
		IgnoreNamespaces:             c.IgnoreNamespaces,
		EnableCertificatesDataSource: c.EnableDataSourceConfig.Certificates,
		EnabledReconcilersFor: map[string]bool{
			cainjector.MutatingWebhookConfigurationName:   c.EnableInjectableConfig.MutatingWebhookConfigurations,
			cainjector.ValidatingWebhookConfigurationName: c.EnableInjectableConfig.ValidatingWebhookConfigurations,
			cainjector.APIServiceName:                     c.EnableInjectableConfig.APIServices,
			cainjector.CustomResourceDefinitionName:       c.EnableInjectableConfig.CustomResourceDefinitions,
		},
	})
	if err != nil {
		return fmt.Errorf("registering the injectors: %w", err)
	}
	return mgr.Start(ctx)
}

// waitForCertificateCRD waits (5 minutes at most) until the Certificate CRD
// exists: the Certificate data source cannot start its informer before.
func waitForCertificateCRD(ctx context.Context, mgr ctrl.Manager) error {
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return err
	}
	log := logf.FromContext(ctx)
	return wait.PollUntilContextTimeout(ctx, time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		err := direct.Get(ctx, types.NamespacedName{Name: "certificates.cert-manager.io"}, crd)
		if apierrors.IsNotFound(err) {
			log.Info("waiting for the certificates.cert-manager.io CRD")
			return false, nil
		}
		return err == nil, err
	})
}
