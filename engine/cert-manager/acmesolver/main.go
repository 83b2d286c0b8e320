// Command cert-manager-acmesolver is the sandbox's ACME HTTP-01 solver: the
// served module's solver server (pkg/issuer/acme/http/solver), answering one
// challenge token, with the flags the cert-manager controller gives its
// solver pods (--listen-port, --domain, --token, --key).
package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"time"

	"github.com/spf13/pflag"
	logsapi "k8s.io/component-base/logs/api/v1"

	"github.com/cert-manager/cert-manager/pkg/issuer/acme/http/solver"
	logf "github.com/cert-manager/cert-manager/pkg/logs"

	"github.com/cert-manager/cert-manager/multisite-sandbox/run"
)

const component = "acmesolver"

func main() {
	run.Main(component, func(ctx context.Context) error {
		s := &solver.HTTP01Solver{}
		logging := logsapi.NewLoggingConfiguration()
		fs := pflag.NewFlagSet("cert-manager-"+component, pflag.ContinueOnError)
		fs.IntVar(&s.ListenPort, "listen-port", 8089, "the port to serve the challenge on")
		fs.StringVar(&s.Domain, "domain", "", "the domain name being validated")
		fs.StringVar(&s.Token, "token", "", "the challenge token (the last path segment asked for)")
		fs.StringVar(&s.Key, "key", "", "the key authorization to answer with")
		logf.AddFlags(logging, fs)
		version := run.AddVersionFlag(fs)
		if err := run.Usage(run.Parse(component, fs, version, os.Args[1:])); err != nil {
			return err
		}
		if err := logf.ValidateAndApply(logging); err != nil {
			return run.Usage(err)
		}
		log := logf.FromContext(ctx)
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			<-ctx.Done()
			shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := s.Shutdown(shutdown); err != nil { //nolint:contextcheck // ctx is already done
				log.Error(err, "shutting down")
			}
		}()
		if err := s.Listen(log); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		<-stopped
		return nil
	})
}
