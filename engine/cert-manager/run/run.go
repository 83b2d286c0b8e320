// Package run holds what the sandbox's cert-manager commands share: the
// version ldflags report, a context cancelled on SIGTERM or SIGINT, and the
// exit path that flushes logs.
package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util"
)

// Version is what `--version` prints: the AppVersion (and AppGitCommit, when
// set) that scripts/engine sets with -ldflags, as cert-manager's release
// build does. The module proxy gives no commit, so scripts/engine sets none.
func Version(component string) string {
	info := util.VersionInfo()
	built := info.GoVersion + ", " + info.Platform
	if info.GitCommit != "" {
		built = "commit " + info.GitCommit + ", " + built
	}
	return fmt.Sprintf("cert-manager-%s %s (%s)", component, info.GitVersion, built)
}

// ErrVersionPrinted ends a command after `--version`, successfully.
var ErrVersionPrinted = errors.New("version printed")

// AddVersionFlag adds `--version` to fs; Parse returns ErrVersionPrinted when it was given.
func AddVersionFlag(fs *pflag.FlagSet) *bool {
	return fs.Bool("version", false, "print the version and exit")
}

// Parse parses args into fs, printing the version when `--version` is among them.
func Parse(component string, fs *pflag.FlagSet, version *bool, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *version {
		fmt.Println(Version(component))
		return ErrVersionPrinted
	}
	return nil
}

// Main runs body with a context that ends on SIGTERM or SIGINT (as the kubelet
// stops a container) and exits: 0 on success or after `--version`, 2 for a
// flag error, 1 for any other error.
func Main(component string, body func(ctx context.Context) error) {
	logf.InitLogs()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := body(logf.NewContext(ctx, logf.Log, component))
	stop()
	logf.FlushLogs()
	switch {
	case err == nil, errors.Is(err, ErrVersionPrinted):
		os.Exit(0)
	case errors.Is(err, pflag.ErrHelp):
		os.Exit(0)
	default:
		fmt.Fprintf(os.Stderr, "cert-manager-%s: %v\n", component, err)
		var usage *UsageError
		if errors.As(err, &usage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// UsageError is a command line that cannot be run (exit status 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usage wraps err (nil stays nil) as a UsageError.
func Usage(err error) error {
	if err == nil || errors.Is(err, ErrVersionPrinted) || errors.Is(err, pflag.ErrHelp) {
		return err
	}
	return &UsageError{Err: err}
}
