package main

import (
	"fmt"
	"os"
	"strings"
)

// target is one release architecture.
type target struct {
	name   string // in file names and in the tarball's ARCH file (install.sh checks it)
	goarch string
	goarm  string
	deb    string // Debian architecture
}

var targets = []target{
	{"amd64", "amd64", "", "amd64"},
	{"arm64", "arm64", "", "arm64"},
	{"armv7", "arm", "7", "armhf"},
	{"riscv64", "riscv64", "", "riscv64"},
}

// file is one file a release ships besides the program's binary.
type file struct {
	src  string      // in the repository
	tar  string      // path in the tarball's folder; "" if the tarball leaves it out
	deb  string      // installed path in the .deb; "" if the package leaves it out
	mode os.FileMode // in both
	conf bool        // a conffile of the .deb: an operator's edits survive upgrades
	unit bool        // a systemd unit: the .deb's copy runs the binary from /usr/bin
}

// program is one of the three programs a user installs.
type program struct {
	name    string
	pkg     string // Go package of its main
	summary string // the .deb's one-line synopsis
	about   string // the .deb's extended description
	files   []file
	dirs    map[string]os.FileMode // directories the .deb creates with a mode of their own
	service bool                   // a systemd service: the .deb gets deploy/debian's maintainer scripts
	depends []string
}

const readme = "README.md"

var programs = []program{
	{
		name:    "edge-agent",
		pkg:     "./cmd/edge-agent",
		summary: "runs signed WebAssembly modules on small Linux boards",
		about: "edge-agent receives signed Wasm modules from edge-control over MQTT, verifies and\n" +
			"compiles them for this board, serves them over HTTP with a blue/green switch and\n" +
			"rolls back by itself when a new version is unhealthy.",
		files: []file{
			{src: "deploy/install.sh", tar: "install.sh", mode: 0o755},
			{src: "deploy/systemd/edge-agent.service", tar: "systemd/edge-agent.service", deb: "/lib/systemd/system/edge-agent.service", mode: 0o644, unit: true},
			{src: "deploy/config/agent.json", tar: "config/agent.json", deb: "/etc/edge-agent/agent.json", mode: 0o640, conf: true},
			{src: readme, tar: readme, deb: "/usr/share/doc/edge-agent/README.md", mode: 0o644},
		},
		dirs:    map[string]os.FileMode{"/etc/edge-agent": 0o750},
		service: true,
		depends: []string{"passwd"}, // useradd in postinst
	},
	{
		name:    "edge-control",
		pkg:     "./cmd/edge-control",
		summary: "fleet controller for edge-agent boards, with an embedded MQTT broker",
		about: "edge-control stores signed module deployments, publishes each device's desired\n" +
			"state over MQTT (embedding a broker by default), keeps the fleet inventory and\n" +
			"serves an HTTP API and a dashboard for edgectl.",
		files: []file{
			{src: "deploy/install.sh", tar: "install.sh", mode: 0o755},
			{src: "deploy/systemd/edge-control.service", tar: "systemd/edge-control.service", deb: "/lib/systemd/system/edge-control.service", mode: 0o644, unit: true},
			{src: "deploy/config/edge-control.env", tar: "config/edge-control.env", deb: "/etc/edge-control/edge-control.env", mode: 0o600, conf: true},
			{src: readme, tar: readme, deb: "/usr/share/doc/edge-control/README.md", mode: 0o644},
		},
		dirs:    map[string]os.FileMode{"/etc/edge-control": 0o750},
		service: true,
		depends: []string{"passwd"},
	},
	{
		name:    "edgectl",
		pkg:     "./cmd/edgectl",
		summary: "operator CLI for an edge fleet: signs, pushes and watches Wasm modules",
		about: "edgectl signs modules with a key that never leaves the operator's machine,\n" +
			"uploads them to edge-control and follows each device until it runs the version.",
		files: []file{
			{src: "deploy/install.sh", tar: "install.sh", mode: 0o755},
			{src: readme, tar: readme, deb: "/usr/share/doc/edgectl/README.md", mode: 0o644},
		},
	},
}

// tarballName and debName are the artifacts' file names; "_" separates
// their fields (release.Check keeps it out of versions).
func tarballName(p program, version string, t target) string {
	return fmt.Sprintf("%s_%s_linux_%s.tar.gz", p.name, version, t.name)
}

func debName(p program, version string, t target) string {
	return fmt.Sprintf("%s_%s_%s.deb", p.name, version, t.deb)
}

// selectTargets parses -arch: names separated by spaces or commas; empty
// means all.
func selectTargets(list string) ([]target, error) {
	names := strings.FieldsFunc(list, func(r rune) bool { return r == ' ' || r == ',' })
	if len(names) == 0 {
		return targets, nil
	}
	var out []target
	seen := map[string]bool{}
	for _, n := range names {
		found := false
		for _, t := range targets {
			if t.name == n {
				found = true
				if !seen[n] {
					out = append(out, t)
				}
				seen[n] = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown architecture %q (amd64, arm64, armv7, riscv64)", n)
		}
	}
	return out, nil
}
