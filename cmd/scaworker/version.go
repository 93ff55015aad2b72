package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// buildTime is when the binary was built, RFC 3339, when the build sets it:
//
//	go build -ldflags "-X main.buildTime=$(date -u +%Y-%m-%dT%H:%M:%SZ)" ./cmd/scaworker
//
// Without it, the build time is the binary file's modification time (what
// `go build` and `go install` leave).
var buildTime string

// buildInfo is what `scaworker version` prints: the binary's build
// information (the Go toolchain stamps the module version and the VCS
// revision and its commit time) and when the binary was built.
type buildInfo struct {
	Version    string // module version, e.g. v1.2.0 or a pseudo-version; "(devel)" when unknown
	Commit     string // vcs.revision, "+dirty" when vcs.modified
	CommitTime string // vcs.time: when the commit was made
	Built      string // when the binary was built (buildTime, else the executable's modification time)
	Go         string
	Platform   string
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: "(devel)", Commit: "unknown", Built: builtAt(), Go: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if bi.Main.Version != "" {
		b.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		b.Go = bi.GoVersion
	}
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.time":
			b.CommitTime = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified && b.Commit != "unknown" {
		b.Commit += "+dirty"
	}
	return b
}

func (b buildInfo) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "scaworker %s\n", b.Version)
	if b.CommitTime != "" {
		fmt.Fprintf(&s, "commit:   %s (committed %s)\n", b.Commit, b.CommitTime)
	} else {
		fmt.Fprintf(&s, "commit:   %s\n", b.Commit)
	}
	fmt.Fprintf(&s, "built:    %s\n", b.Built)
	fmt.Fprintf(&s, "go:       %s\n", b.Go)
	fmt.Fprintf(&s, "platform: %s\n", b.Platform)
	return s.String()
}

// builtAt is when this binary was built: buildTime when the build set
// it, else the modification time of the executable file.
func builtAt() string {
	if buildTime != "" {
		return buildTime
	}
	exe, err := os.Executable()
	if err != nil {
		return "unknown"
	}
	fi, err := os.Stat(exe)
	if err != nil {
		return "unknown"
	}
	return fi.ModTime().UTC().Format(time.RFC3339)
}

// userAgent is the User-Agent of Mangopay calls.
func (b buildInfo) userAgent() string {
	v := b.Version
	if v == "(devel)" {
		v = "dev"
	}
	return "scaworker/" + v + " (" + b.Go + ")"
}
