// Command dist builds the release of the three programs a user installs:
// edge-agent (boards), edge-control (the controller) and edgectl (the
// operator's CLI). For each architecture (amd64, arm64, armv7, riscv64) and
// program it writes a tarball (the static binary, install.sh, the systemd
// unit and an example configuration where the program has them, README,
// ARCH) and a Debian package (built with nfpm), then SHA256SUMS of them all:
//
//	dist/edge-agent_VERSION_linux_ARCH.tar.gz    dist/edge-agent_VERSION_DEBARCH.deb
//	dist/edge-control_VERSION_linux_ARCH.tar.gz  dist/edge-control_VERSION_DEBARCH.deb
//	dist/edgectl_VERSION_linux_ARCH.tar.gz       dist/edgectl_VERSION_DEBARCH.deb
//	dist/SHA256SUMS
//
// VERSION is the checkout's release version (package deploy/release) unless
// -version gives one; it is checked before anything is built, linked into
// every binary (--version prints it) and is the packages' Version field.
//
//	go run ./deploy/dist -out dist [-version 1.2.3] [-arch "amd64 armv7"]   (make dist)
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgeplane/edge/deploy/release"
)

func main() {
	version := flag.String("version", "", "release `version` (default: the checkout's, from git describe)")
	out := flag.String("out", "dist", "output `folder`")
	arch := flag.String("arch", "", "architectures, separated by spaces or commas (default: amd64 arm64 armv7 riscv64)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "dist: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	if err := run(context.Background(), *version, *out, *arch, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dist:", err)
		os.Exit(1)
	}
}

var vDigit = regexp.MustCompile(`^v[0-9]`)

// resolveVersion returns the version to release: the one given (a leading
// v, as in a tag, is dropped) or the checkout's. A version dpkg would
// refuse is an error before anything is built.
func resolveVersion(ctx context.Context, given string) (string, error) {
	v := given
	if v == "" {
		var warning, err error
		v, warning, err = release.FromGit(ctx, ".")
		if err != nil {
			return "", err
		}
		if warning != nil {
			fmt.Fprintf(os.Stderr, "dist: %v; releasing as %s\n", warning, v)
		}
	}
	if vDigit.MatchString(v) {
		v = v[1:]
	}
	if err := release.Check(v); err != nil {
		return "", fmt.Errorf("version: %w", err)
	}
	return v, nil
}

// sourceTime is the date every file in the archives carries:
// SOURCE_DATE_EPOCH if set (reproducible-builds.org), else HEAD's commit
// time, else the Unix epoch.
func sourceTime(ctx context.Context) (time.Time, error) {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil || sec < 0 {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: want seconds since 1970", s)
		}
		return time.Unix(sec, 0).UTC(), nil
	}
	if g, err := release.ReadGit(ctx, "."); err == nil {
		return g.Time, nil
	}
	return time.Unix(0, 0).UTC(), nil
}

func run(ctx context.Context, version, out, arch string, stdout io.Writer) error {
	ts, err := selectTargets(arch)
	if err != nil {
		return err
	}
	if version, err = resolveVersion(ctx, version); err != nil {
		return err
	}
	mtime, err := sourceTime(ctx)
	if err != nil {
		return err
	}
	if err := clean(out); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	stage, err := os.MkdirTemp("", "edge-dist")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)

	start := time.Now()
	results, err := releaseAll(ctx, ts, version, stage, out, mtime)
	if err != nil {
		return err
	}
	var artifacts []string
	for _, r := range results {
		artifacts = append(artifacts, r.tarball, r.deb)
		fmt.Fprintf(stdout, "%-8s %-13s %5.1f MB  %s  %s\n", r.t.name, r.p.name, float64(r.size)/1e6, r.tarball, r.deb)
	}
	if err := writeSums(out, artifacts); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d artifacts of version %s and SHA256SUMS in %.0fs\n", out, len(artifacts), version, time.Since(start).Seconds())
	return nil
}

// result is one program released for one target.
type result struct {
	p            program
	t            target
	size         int64 // of the binary
	tarball, deb string
}

// releaseAll builds and packages every program for every target, two at
// a time: go build compiles packages in parallel already, but linking,
// gzip and nfpm are serial, and a second job keeps the other core busy.
// The results come in targets × programs order.
func releaseAll(ctx context.Context, ts []target, version, stage, out string, mtime time.Time) ([]result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]result, 0, len(ts)*len(programs))
	for _, t := range ts {
		for _, p := range programs {
			results = append(results, result{p: p, t: t})
		}
	}
	jobs := make(chan *result)
	errs := make(chan error, len(results))
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range jobs {
				if err := releaseOne(ctx, r, version, stage, out, mtime); err != nil {
					errs <- fmt.Errorf("%s %s: %w", r.p.name, r.t.name, err)
					cancel() // the other jobs stop; their errors follow this one
				}
			}
		}()
	}
	for i := range results {
		jobs <- &results[i]
	}
	close(jobs)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return results, nil
}

func releaseOne(ctx context.Context, r *result, version, stage, out string, mtime time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	bin := filepath.Join(stage, r.t.name)
	if err := build(ctx, r.p, r.t, version, bin); err != nil {
		return err
	}
	st, err := os.Stat(filepath.Join(bin, r.p.name))
	if err != nil {
		return err
	}
	r.size = st.Size()
	r.tarball, r.deb, err = packageProgram(r.p, r.t, version, bin, out, mtime)
	return err
}

// build compiles one static, stripped binary with the version linked in,
// exactly as make build does.
func build(ctx context.Context, p program, t target, version, dir string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath",
		"-ldflags", "-s -w -X github.com/edgeplane/edge/internal/buildinfo.Version="+version,
		"-o", filepath.Join(dir, p.name), p.pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+t.goarch, "GOARM="+t.goarm)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

// packageProgram writes p's tarball and .deb for t into out and returns
// their names.
func packageProgram(p program, t target, version, bin, out string, mtime time.Time) (tgz, deb string, err error) {
	tmp, err := os.MkdirTemp("", "edge-dist-tar")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(tmp)
	tgz = tarballName(p, version, t)
	dir := filepath.Join(tmp, strings.TrimSuffix(tgz, ".tar.gz"))
	if err := copyFile(filepath.Join(bin, p.name), filepath.Join(dir, p.name), 0o755); err != nil {
		return "", "", err
	}
	for _, f := range p.files {
		if f.tar == "" {
			continue
		}
		if err := copyFile(f.src, filepath.Join(dir, f.tar), f.mode); err != nil {
			return "", "", err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "ARCH"), []byte(t.name+"\n"), 0o644); err != nil {
		return "", "", err
	}
	if err := tarball(dir, filepath.Join(out, tgz), mtime); err != nil {
		return "", "", fmt.Errorf("tarball: %w", err)
	}
	deb = debName(p, version, t)
	if err := debian(p, t, version, bin, filepath.Join(out, deb), mtime); err != nil {
		return "", "", fmt.Errorf("deb: %w", err)
	}
	return tgz, deb, nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		return err
	}
	return os.Chmod(dst, mode) // WriteFile's mode passes through the umask
}
