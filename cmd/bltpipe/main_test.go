package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
)

// Every command's --help has examples and exits 0; the top-level help lists
// every command, the global flags and the exit codes.
func TestHelpEverywhere(t *testing.T) {
	code, top, _ := runCLI(t, "--help")
	if code != exitOK {
		t.Fatalf("--help: exit %d", code)
	}
	for _, want := range []string{"--log-level", "--version", "Exit status:", "0  success", "1  the run failed", "2  bad usage", "Examples:"} {
		if !strings.Contains(top, want) {
			t.Errorf("bltpipe --help lacks %q", want)
		}
	}
	for name := range commands {
		if !strings.Contains(top, "  "+name+" ") {
			t.Errorf("bltpipe --help does not list %q", name)
		}
		args := append(strings.Fields(name), "--help")
		code, out, stderr := runCLI(t, args...)
		if code != exitOK {
			t.Errorf("%s --help: exit %d: %s", name, code, stderr)
		}
		if !strings.Contains(out, "Examples:\n  bltpipe "+strings.Fields(name)[0]) {
			t.Errorf("%s --help has no Examples section with a bltpipe %s line:\n%s", name, name, out)
		}
	}
}

func TestVersionAndLogLevel(t *testing.T) {
	code, out, _ := runCLI(t, "--version")
	if code != exitOK || !strings.HasPrefix(out, "bltpipe ") || len(strings.TrimSpace(out)) <= len("bltpipe ") {
		t.Errorf("--version: exit %d, %q", code, out)
	}
	saved := commit
	commit = "0123456789abcdef0123"
	if v := version(); !strings.Contains(v, "0123456789ab") || strings.Contains(v, "0123456789abc") {
		t.Errorf("version() with an injected commit = %q, want its first 12 digits", v)
	}
	commit = saved

	defer slog.SetDefault(slog.Default())
	defer func(l string) { beamlog.LogLevel = l }(beamlog.LogLevel)
	for _, tc := range []struct {
		args  []string
		level slog.Level
		code  int
	}{
		{[]string{"--log-level", "warn", "--version"}, slog.LevelWarn, exitOK},
		{[]string{"--log-level=DEBUG", "--version"}, slog.LevelDebug, exitOK},
		{[]string{"--log-level=error", "--version"}, slog.LevelError, exitOK},
		{[]string{"--log-level", "loud", "--version"}, 0, exitUsage},
		{[]string{"--log-level"}, 0, exitUsage},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != tc.code {
			t.Errorf("%v: exit %d (%s), want %d", tc.args, code, stderr, tc.code)
			continue
		}
		if code == exitOK && (!slog.Default().Enabled(context.Background(), tc.level) || slog.Default().Enabled(context.Background(), tc.level-1)) {
			t.Errorf("%v: default logger does not start at %v", tc.args, tc.level)
		}
		if code == exitOK && beamlog.LogLevel != strings.ToLower(tc.level.String()) {
			t.Errorf("%v: Beam's log level %q, want %v (beam.Init would reset the logger)", tc.args, beamlog.LogLevel, tc.level)
		}
	}
	if code, _, stderr := runCLI(t, "frobnicate"); code != exitUsage || !strings.Contains(stderr, "unknown command") {
		t.Errorf("unknown command: exit %d, %q", code, stderr)
	}
}
