// Package ext provides the two extension points that Traefik's dynamic
// configuration embeds inline: dynamic.HTTPConfiguration embeds ext.HTTP and
// dynamic.Router embeds ext.Router (pkg/config/dynamic/http_config.go of
// v3.7.11). They let a distribution of Traefik add fields to its HTTP
// configuration and routers; the open-source build adds none, so both are
// empty structs here. Traefik's generated deep-copy code copies them by
// value, which an empty struct satisfies.
package ext

// HTTP extends the dynamic HTTP configuration (no fields in this build).
type HTTP struct{}

// Router extends a dynamic HTTP router (no fields in this build).
type Router struct{}
