// Command cert-manager-webhook is the sandbox's cert-manager webhook:
// cert-manager's admission server (validation, defaulting, conversion of
// every cert-manager resource) with its own flags and configuration file
// (pkg/webhook/options, pkg/webhook/configfile of the served module), wired
// as upstream's command does. The module path of this wrapper lies under
// cert-manager's because the server is built by cert-manager's internal
// package internal/webhook (see engine/README.md).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/pflag"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/cert-manager/cert-manager/internal/apis/config/webhook/validation"
	cmwebhook "github.com/cert-manager/cert-manager/internal/webhook"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"
	webhookconfigfile "github.com/cert-manager/cert-manager/pkg/webhook/configfile"
	"github.com/cert-manager/cert-manager/pkg/webhook/options"

	"github.com/cert-manager/cert-manager/multisite-sandbox/run"
)

const component = "webhook"

func main() {
	run.Main(component, func(ctx context.Context) error {
		args := os.Args[1:]
		flags := options.NewWebhookFlags()
		config, err := options.NewWebhookConfiguration()
		if err != nil {
			return err
		}
		fs := pflag.NewFlagSet("cert-manager-"+component, pflag.ContinueOnError)
		flags.AddFlags(fs)
		options.AddConfigFlags(fs, config)
		version := run.AddVersionFlag(fs)
		if err := run.Usage(run.Parse(component, fs, version, args)); err != nil {
			return err
		}
		file := webhookconfigfile.New()
		if err := run.Usage(run.LoadConfigFile(flags.Config, file, func() { file.Config.DeepCopyInto(config) }, fs, args)); err != nil {
			return err
		}
		if err := utilfeature.DefaultMutableFeatureGate.SetFromMap(config.FeatureGates); err != nil {
			return run.Usage(fmt.Errorf("--feature-gates: %w", err))
		}
		if errs := validation.ValidateWebhookConfiguration(config, nil); len(errs) > 0 {
			return run.Usage(errs.ToAggregate())
		}
		if err := logf.ValidateAndApply(&config.Logging); err != nil {
			return run.Usage(err)
		}
		ctrl.SetLogger(logf.Log) // controller-runtime logs through cert-manager's logger
		log := logf.FromContext(ctx)
		log.Info("starting", "version", run.Version(component))
		srv, err := cmwebhook.NewCertManagerWebhookServer(log, *config)
		if err != nil {
			return err
		}
		return srv.Run(ctx)
	})
}
