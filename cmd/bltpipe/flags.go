package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"

	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
)

// flagHelp is returned by parseFlags when the user asked for --help.
var flagHelp = errors.New("help requested")

// newFlagSet returns a FlagSet that reports errors instead of exiting, and
// prints its usage (with the given examples) to stdout on --help.
func newFlagSet(name, usage string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("bltpipe "+name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		io.WriteString(fs.Output(), usage)
		io.WriteString(fs.Output(), "\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; bad flags become usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return flagHelp
		}
		return usageErrorf("%v", err)
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected arguments: %v", fs.Args())
	}
	return nil
}

// commit is the VCS revision, injected by the Makefile's build with
// -ldflags "-X main.commit=…" (GOFLAGS=-buildvcs=false leaves the build
// info without one).
var commit string

// version is the module version and VCS revision: the one the Go toolchain
// stamped (vcs.revision, with "+dirty" for a modified tree), else the one
// the Makefile injected.
func version() string {
	v, rev, dirty := "(devel)", commit, false
	if info, ok := debug.ReadBuildInfo(); ok {
		if info.Main.Version != "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	// Go 1.24+ puts the revision into a pseudo-version already
	// (v0.0.0-DATE-REV+dirty); say it once.
	if rev != "" && !strings.Contains(v, rev) {
		v += " " + rev
		if dirty {
			v += "+dirty"
		}
	}
	return v
}

// logLevels are the values of --log-level.
var logLevels = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}

// globalFlags takes the flags that come before the command (--log-level)
// off args and applies them: the default slog logger writes records of at
// least that level to stderr, and so does Beam's (beam.Init replaces the
// default logger with one at beam/log.LogLevel, so that is set too).
func globalFlags(args []string, stderr io.Writer) ([]string, error) {
	level := slog.LevelInfo
	set := false
	for len(args) > 0 {
		a := args[0]
		var val string
		switch {
		case a == "--log-level" || a == "-log-level":
			if len(args) < 2 {
				return nil, fmt.Errorf("--log-level needs a value: debug, info, warn or error")
			}
			val, args = args[1], args[2:]
		case strings.HasPrefix(a, "--log-level=") || strings.HasPrefix(a, "-log-level="):
			val, args = a[strings.Index(a, "=")+1:], args[1:]
		default:
			if set {
				slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})))
			}
			return args, nil
		}
		l, ok := logLevels[strings.ToLower(val)]
		if !ok {
			return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", val)
		}
		level, set = l, true
		beamlog.LogLevel = strings.ToLower(val)
	}
	if set {
		slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})))
	}
	return args, nil
}
