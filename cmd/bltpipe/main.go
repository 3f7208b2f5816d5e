// Command bltpipe turns raw corpora into BLT entropy patches, pre-norm
// embeddings and prominence. Each subcommand lives in its own file and
// registers itself in init; main only dispatches.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Exit codes, documented in the README.
const (
	exitOK      = 0 // success
	exitFailure = 1 // the run failed (I/O, pipeline error)
	exitUsage   = 2 // bad flags, bad input or bad model files
)

// command is one subcommand of bltpipe ("score", "patch", "model info", …).
type command struct {
	name    string // as typed, e.g. "score" or "model info"
	summary string // one line for the top-level help
	// run executes the command with the arguments after its name; it writes
	// results to stdout. Errors wrapped with usageError exit with status 2.
	run func(args []string, stdout io.Writer) error
}

var commands = map[string]command{}

func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("bltpipe: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// errUsage marks errors caused by the caller's input (flags, files, models).
var errUsage = errors.New("usage")

// usageErrorf returns an error that makes bltpipe exit with status 2.
func usageErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, args...)...)
}

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

// dispatch finds the longest registered command name that prefixes args
// ("model info" before "model") and runs it.
func dispatch(args []string, stdout, stderr io.Writer) int {
	args, err := globalFlags(args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "bltpipe: %v (see bltpipe --help)\n", err)
		return exitUsage
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printHelp(stdout)
		return exitOK
	}
	if args[0] == "--version" || args[0] == "version" {
		fmt.Fprintln(stdout, "bltpipe", version())
		return exitOK
	}
	for n := min(2, len(args)); n >= 1; n-- {
		name := strings.Join(args[:n], " ")
		if c, ok := commands[name]; ok {
			if err := c.run(args[n:], stdout); err != nil {
				if errors.Is(err, flagHelp) {
					return exitOK
				}
				fmt.Fprintf(stderr, "bltpipe %s: %v\n", name, strings.TrimPrefix(err.Error(), "usage: "))
				if errors.Is(err, errUsage) {
					return exitUsage
				}
				return exitFailure
			}
			return exitOK
		}
	}
	fmt.Fprintf(stderr, "bltpipe: unknown command %q (see bltpipe --help)\n", strings.Join(args, " "))
	return exitUsage
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "bltpipe: BLT entropy patches, pre-norm embeddings and prominence for any corpus.")
	fmt.Fprintln(w, "\nUsage: bltpipe [--log-level LEVEL] COMMAND [flags]   (bltpipe COMMAND --help for its flags and examples)")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, commands[n].summary)
	}
	io.WriteString(w, helpTail)
}

const helpTail = `
Global flags (before COMMAND):
  --log-level LEVEL   debug, info (default), warn or error: the least severe
                      log records printed to stderr (log/slog; Beam's prism
                      runner logs through it too)
  --version           print the module version and VCS commit, then exit
  --help              this text

Examples:
  bltpipe run --input testdata/demo --output out/demo --blt-arrow demo
  bltpipe inspect out/demo
  bltpipe plot out/demo --doc ID --out doc.png
  bltpipe report out/demo --out report.html
  bltpipe --log-level warn run --input 'data/*.jsonl.zst' --output out/

Exit status:
  0  success (also for --help and --version)
  1  the run failed: I/O, pipeline or runner error
  2  bad usage: unknown command or flag, bad flag value, missing or
     unreadable input, model files or output directory
`
