// Command pulumi-resource-kubernetes serves the Pulumi Kubernetes provider
// (github.com/pulumi/pulumi-kubernetes/provider/v4) as a resource plugin.
//
// Upstream's own main embeds a generated, versioned schema that its build
// produces with a code generator. Serving resources does not need it: the
// provider uses the schema only to answer GetSchema (used by SDK/code
// generation, e.g. `pulumi package get-schema`) and, when reading a resource
// that has no recorded inputs (import or `pulumi refresh` of an adopted
// object), to know which top-level fields are inputs. So this wrapper passes a
// minimal package schema with no resources: create/read/update/delete,
// helm.sh/v3 Release and CustomResources work; `pulumi import` of kubernetes
// resources gets no inputs filled in from the live object.
package main

import (
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

func main() {
	v := version.Version
	if v == "" {
		v = "0.0.0-dev"
	}
	schema := []byte(fmt.Sprintf(`{"name":"kubernetes","displayName":"Kubernetes","version":%q,"resources":{}}`, v))
	provider.Serve("kubernetes", v, schema, nil)
}
