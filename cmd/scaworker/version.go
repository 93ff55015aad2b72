package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// buildInfo is what `scaworker version` prints, all from the binary's
// build information (the Go toolchain stamps the module version and the
// VCS revision; nothing is set with -ldflags).
type buildInfo struct {
	Version  string // module version, e.g. v1.2.0 or a pseudo-version; "(devel)" when unknown
	Commit   string // vcs.revision, "+dirty" when vcs.modified
	Time     string // vcs.time
	Go       string
	Platform string
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: "(devel)", Commit: "unknown", Time: "unknown", Go: runtime.Version(),
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
			b.Time = s.Value
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
	fmt.Fprintf(&s, "commit:   %s\n", b.Commit)
	fmt.Fprintf(&s, "built:    %s\n", b.Time)
	fmt.Fprintf(&s, "go:       %s\n", b.Go)
	fmt.Fprintf(&s, "platform: %s\n", b.Platform)
	return s.String()
}

// userAgent is the User-Agent of Mangopay calls.
func (b buildInfo) userAgent() string {
	v := b.Version
	if v == "(devel)" {
		v = "dev"
	}
	return "scaworker/" + v + " (" + b.Go + ")"
}
