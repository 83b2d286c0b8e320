package run

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/cert-manager/cert-manager/pkg/util/configfile"
)

// LoadConfigFile reads a cert-manager configuration file (`--config`) into
// file, calls apply to copy it over the flag-built configuration, and parses
// args again so that flags given on the command line win over the file, as
// upstream's commands do. An empty path does nothing.
func LoadConfigFile(path string, file configfile.ConfigFile, apply func(), fs *pflag.FlagSet, args []string) error {
	if path == "" {
		return nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("--config=%s: %w", path, err)
	}
	loader, err := configfile.NewConfigurationFSLoader(nil, abs)
	if err != nil {
		return fmt.Errorf("--config=%s: %w", path, err)
	}
	if err := loader.Load(file); err != nil {
		return fmt.Errorf("--config=%s: %w", path, err)
	}
	apply()
	return fs.Parse(args)
}
