//go:build wasip1

package main

import "github.com/edgeplane/edge/modules/sdk"

func init() { sdk.Serve(handler()) }

func main() {}
