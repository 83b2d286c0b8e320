// An empty stand-in for github.com/Venafi/vcert/v5, which cert-manager's go.mod
// requires (v5.13.7) and the Go module proxy refuses. Only cert-manager's
// Venafi issuer imports vcert, and none of the binaries built here wires that
// issuer, so no package of this module is ever compiled: a build that imports
// vcert fails with "no required module provides package", which is the check.
module github.com/Venafi/vcert/v5

go 1.26.6
