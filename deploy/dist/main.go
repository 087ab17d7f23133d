// Command dist builds the release of edge-agent: a static, stripped binary
// per architecture (amd64, arm64, armv7, riscv64), a tarball per
// architecture with the binary, the systemd unit, the example configuration
// and install.sh, and a Debian package per architecture built with nfpm.
//
//	go run ./deploy/dist -version 1.2.3 -out dist     (make dist)
package main

import (
	"archive/tar"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
)

// target is one release architecture.
type target struct {
	name   string // in file names and install.sh's ARCH
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

func main() {
	version := flag.String("version", "0.0.0", "release version")
	out := flag.String("out", "dist", "output folder")
	only := flag.String("arch", "", "build only this architecture (amd64, arm64, armv7, riscv64)")
	flag.Parse()
	if err := run(*version, *out, *only); err != nil {
		fmt.Fprintln(os.Stderr, "dist:", err)
		os.Exit(1)
	}
}

func run(version, out, only string) error {
	version = strings.TrimPrefix(version, "v")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	built := 0
	for _, t := range targets {
		if only != "" && only != t.name {
			continue
		}
		built++
		dir := filepath.Join(out, fmt.Sprintf("edge-agent_%s_linux_%s", version, t.name))
		if err := stage(t, version, dir); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		if err := tarball(dir, dir+".tar.gz"); err != nil {
			return fmt.Errorf("%s tarball: %w", t.name, err)
		}
		deb := filepath.Join(out, fmt.Sprintf("edge-agent_%s_%s.deb", debVersion(version), t.deb))
		if err := debian(t, version, dir, deb); err != nil {
			return fmt.Errorf("%s deb: %w", t.name, err)
		}
		st, _ := os.Stat(filepath.Join(dir, "edge-agent"))
		fmt.Printf("%-8s edge-agent %5.1f MB  %s.tar.gz  %s\n", t.name, float64(st.Size())/1e6, dir, deb)
	}
	if built == 0 {
		return fmt.Errorf("unknown architecture %q", only)
	}
	return nil
}

// stage builds the binary and lays out the release folder.
func stage(t target, version, dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-trimpath",
		"-ldflags", "-s -w -X github.com/edgeplane/edge/agent/cli.Version="+version,
		"-o", filepath.Join(dir, "edge-agent"), "./cmd/edge-agent")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+t.goarch, "GOARM="+t.goarm)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	for src, dst := range map[string]string{
		"deploy/install.sh":                 "install.sh",
		"deploy/systemd/edge-agent.service": "systemd/edge-agent.service",
		"deploy/config/agent.json":          "config/agent.json",
		"README.md":                         "README.md",
	} {
		if err := copyFile(src, filepath.Join(dir, dst)); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "ARCH"), []byte(t.name+"\n"), 0o644)
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, st.Mode().Perm())
}

// tarball writes dir as a gzipped tar whose entries sit under dir's name.
func tarball(dir, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	base := filepath.Dir(dir)
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(base, p)
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "root", "root"
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.IsDir() {
			return nil
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	return f.Close()
}

// debVersion turns a git-describe version into one dpkg orders correctly.
func debVersion(v string) string { return strings.ReplaceAll(v, "-", "~") }

const postinst = `#!/bin/sh
set -e
if ! id edge-agent >/dev/null 2>&1; then
  useradd --system --no-create-home --home-dir /var/lib/edge-agent --shell /usr/sbin/nologin edge-agent
fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
echo "edge-agent: edit /etc/edge-agent/agent.json, then: systemctl enable --now edge-agent"
`

const prerm = `#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then systemctl disable --now edge-agent.service || true; fi
`

// debian packages the staged release with nfpm. The package installs the
// binary in /usr/bin, so its unit's ExecStart is rewritten to match.
func debian(t target, version, dir, path string) error {
	unit, err := os.ReadFile(filepath.Join(dir, "systemd", "edge-agent.service"))
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "edge-dist")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	debUnit := filepath.Join(tmp, "edge-agent.service")
	if err := os.WriteFile(debUnit, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/edge-agent", "/usr/bin/edge-agent")), 0o644); err != nil {
		return err
	}
	scripts := map[string]string{"postinst": postinst, "prerm": prerm}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte(body), 0o755); err != nil {
			return err
		}
	}
	info := nfpm.WithDefaults(&nfpm.Info{
		Name:        "edge-agent",
		Arch:        t.deb,
		Platform:    "linux",
		Version:     debVersion(version),
		Maintainer:  "edgeplane <edge@edgeplane.invalid>",
		Description: "Runs signed WebAssembly modules on small Linux boards, delivered over MQTT.",
		Homepage:    "https://github.com/edgeplane/edge",
		License:     "Apache-2.0",
		Section:     "net",
		Priority:    "optional",
		Overridables: nfpm.Overridables{
			Contents: files.Contents{
				{Source: filepath.Join(dir, "edge-agent"), Destination: "/usr/bin/edge-agent", FileInfo: &files.ContentFileInfo{Mode: 0o755}},
				{Source: debUnit, Destination: "/lib/systemd/system/edge-agent.service", FileInfo: &files.ContentFileInfo{Mode: 0o644}},
				{Source: filepath.Join(dir, "config", "agent.json"), Destination: "/etc/edge-agent/agent.json", Type: files.TypeConfigNoReplace, FileInfo: &files.ContentFileInfo{Mode: 0o640}},
				{Source: filepath.Join(dir, "README.md"), Destination: "/usr/share/doc/edge-agent/README.md", FileInfo: &files.ContentFileInfo{Mode: 0o644}},
			},
			Scripts: nfpm.Scripts{
				PostInstall: filepath.Join(tmp, "postinst"),
				PreRemove:   filepath.Join(tmp, "prerm"),
			},
		},
	})
	info.MTime = time.Unix(0, 0).UTC()
	if err := nfpm.Validate(info); err != nil {
		return err
	}
	pkg, err := nfpm.Get("deb")
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pkg.Package(info, f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
