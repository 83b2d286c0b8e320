// This project's stand-in for github.com/traefik/traefik/dynamic/ext, a
// module nested in Traefik's repository that its go.mod replaces by a local
// directory (./pkg/config/dynamic/ext), which the v3 module zip does not
// carry and the proxy does not serve. See ext.go.
module github.com/traefik/traefik/dynamic/ext

go 1.26.6
