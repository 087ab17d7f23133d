package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	"github.com/goreleaser/nfpm/v2/files"
)

// maintainerScripts are deploy/debian's scripts, shared by the two
// services; "@NAME@" in them becomes the program's name.
var maintainerScripts = []string{"postinst", "prerm", "postrm"}

// debian packages program p for t from the staged binary in stage (see
// build) with nfpm. The version goes in unchanged (release.Check has
// vetted it): no semver reparsing, no Debian revision.
func debian(p program, t target, version, stage, path string, mtime time.Time) error {
	tmp, err := os.MkdirTemp("", "edge-dist-deb")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	contents := files.Contents{
		{Source: filepath.Join(stage, p.name), Destination: "/usr/bin/" + p.name, FileInfo: &files.ContentFileInfo{Mode: 0o755, MTime: mtime}},
	}
	dirs := make([]string, 0, len(p.dirs))
	for d := range p.dirs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		contents = append(contents, &files.Content{Destination: d, Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: p.dirs[d], MTime: mtime}})
	}
	for i, f := range p.files {
		if f.deb == "" {
			continue
		}
		src := f.src
		if f.unit {
			// The tarball's unit runs /usr/local/bin (install.sh's
			// place); a package's binary lives in /usr/bin.
			b, err := os.ReadFile(f.src)
			if err != nil {
				return err
			}
			src = filepath.Join(tmp, fmt.Sprintf("unit%d", i))
			if err := os.WriteFile(src, bytes.ReplaceAll(b, []byte("/usr/local/bin/"), []byte("/usr/bin/")), 0o644); err != nil {
				return err
			}
		}
		c := &files.Content{Source: src, Destination: f.deb, FileInfo: &files.ContentFileInfo{Mode: f.mode, MTime: mtime}}
		if f.conf {
			c.Type = files.TypeConfigNoReplace
		}
		contents = append(contents, c)
	}

	var scripts nfpm.Scripts
	if p.service {
		paths := map[string]*string{"postinst": &scripts.PostInstall, "prerm": &scripts.PreRemove, "postrm": &scripts.PostRemove}
		for _, name := range maintainerScripts {
			b, err := os.ReadFile(filepath.Join("deploy", "debian", name))
			if err != nil {
				return err
			}
			dst := filepath.Join(tmp, name)
			if err := os.WriteFile(dst, bytes.ReplaceAll(b, []byte("@NAME@"), []byte(p.name)), 0o755); err != nil {
				return err
			}
			*paths[name] = dst
		}
	}

	info := nfpm.WithDefaults(&nfpm.Info{
		Name:          p.name,
		Arch:          t.deb,
		Platform:      "linux",
		Version:       version,
		VersionSchema: "none",
		Maintainer:    "edgeplane <edge@edgeplane.invalid>",
		Description:   p.summary + "\n" + p.about,
		Homepage:      "https://github.com/edgeplane/edge",
		Section:       "net",
		Priority:      "optional",
		Overridables: nfpm.Overridables{
			// gzip, which every dpkg reads (zstd needs dpkg 1.21.18,
			// newer than Raspberry Pi OS bullseye's), at gzip's default
			// level: nfpm's default 9 took 4 times as long for 1% less.
			Deb:      nfpm.Deb{Compression: "gzip:6"},
			Depends:  p.depends,
			Contents: contents,
			Scripts:  scripts,
		},
	})
	info.MTime = mtime
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
		os.Remove(path)
		return err
	}
	return f.Close()
}
