// Command cert-manager-startupapicheck is the sandbox's `check api`: it waits
// until a dry-run create of a cert-manager Certificate succeeds, which needs
// the CRDs installed and the webhook answering the API server
// (pkg/util/cmapichecker of the served module). The chart runs it as a
// post-install hook Job with `check api --wait=<timeout> -v`.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	logsapi "k8s.io/component-base/logs/api/v1"

	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util/cmapichecker"

	"github.com/cert-manager/cert-manager/multisite-sandbox/run"
)

const (
	component = "startupapicheck"
	// Where a pod finds its own namespace (the kubelet mounts it).
	serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
)

func main() {
	run.Main(component, func(ctx context.Context) error {
		var (
			waitFor, interval     time.Duration
			kubeconfig, namespace string
		)
		logging := logsapi.NewLoggingConfiguration()
		fs := pflag.NewFlagSet("cert-manager-"+component, pflag.ContinueOnError)
		fs.DurationVar(&waitFor, "wait", 0, "keep checking this long (0: check once)")
		fs.DurationVar(&interval, "interval", 5*time.Second, "time between checks")
		fs.StringVar(&kubeconfig, "kubeconfig", "", "a kubeconfig file (default: in-cluster)")
		fs.StringVarP(&namespace, "namespace", "n", "", "where the dry-run Certificate is created "+
			"(default: the pod's namespace, else default)")
		logf.AddFlagsNonDeprecated(logging, fs)
		// The chart passes a bare `-v` (cmctl's old `check api -v` took no
		// value); upstream's command reads it as verbosity 2, and so does this.
		fs.Lookup("v").NoOptDefVal = "2"
		version := run.AddVersionFlag(fs)
		if err := run.Usage(run.Parse(component, fs, version, os.Args[1:])); err != nil {
			return err
		}
		if got := strings.Join(fs.Args(), " "); got != "check api" {
			return run.Usage(fmt.Errorf("expected the command `check api`, got %q", got))
		}
		if err := logf.ValidateAndApply(logging); err != nil {
			return run.Usage(err)
		}
		restConfig, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return err
		}
		if namespace == "" {
			namespace = podNamespace()
		}
		checker, err := cmapichecker.New(restConfig, namespace)
		if err != nil {
			return err
		}
		return check(ctx, checker, waitFor, interval)
	})
}

func podNamespace() string {
	if data, err := os.ReadFile(serviceAccountNamespace); err == nil && len(strings.TrimSpace(string(data))) > 0 {
		return strings.TrimSpace(string(data))
	}
	return "default"
}

// check polls until the API answers or waitFor has passed; the error is the
// last reason the API was not ready, in cmapichecker's plain words.
func check(ctx context.Context, checker cmapichecker.Interface, waitFor, interval time.Duration) error {
	log := logf.FromContext(ctx)
	start := time.Now()
	var last error
	err := wait.PollUntilContextCancel(ctx, interval, true, func(ctx context.Context) (bool, error) {
		err := checker.Check(ctx)
		if err == nil {
			return true, nil
		}
		last = err
		if simple := cmapichecker.TranslateToSimpleError(err); simple != nil {
			last = simple
		}
		log.V(2).Info("not ready", "err", last)
		if time.Since(start) >= waitFor {
			return false, context.DeadlineExceeded
		}
		return false, nil
	})
	if err != nil {
		if last == nil {
			last = err
		}
		if errors.Is(err, context.DeadlineExceeded) && waitFor > 0 {
			return fmt.Errorf("not ready after %s: %w", waitFor, last)
		}
		return last
	}
	fmt.Println("The cert-manager API is ready")
	return nil
}
