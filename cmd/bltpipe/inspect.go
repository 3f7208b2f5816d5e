package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/bltpipe/bltpipe/cmd/bltpipe/internal/plots"
	"github.com/bltpipe/bltpipe/pipelines/outputs"
	"github.com/bltpipe/bltpipe/transforms/progress"
	"github.com/bltpipe/bltpipe/transforms/write"
)

func init() {
	register(command{
		name:    "inspect",
		summary: "summarise a finished run: counts, patch lengths, entropy/prominence histograms, rejects, model, throughput",
		run:     runInspect,
	})
}

const inspectUsage = `Usage: bltpipe inspect DIR [--json] [--ids]

Summarises a finished bltpipe run (a directory with _MANIFEST.json, local or
gs://): documents, bytes, tokens, patches, mean and median patch length,
text histograms of per-token entropy (nats) and prominence and of patch
length, rejects by stage (when rejects/ exists), the model and patcher
parameters from the manifest, wall time and throughput (from _TIMING.json,
written by bltpipe run) and shell occupancy (when bltpipe waterfill ran).
It reads documents/ once; patches/ and embeddings are not read.

Examples:
  bltpipe inspect out/demo
  bltpipe inspect out/demo --json | jq .mean_patch_tokens
  bltpipe inspect gs://bucket/run1 --ids | head
`

func runInspect(args []string, stdout io.Writer) error {
	fs := newFlagSet("inspect", inspectUsage, stdout)
	asJSON := fs.Bool("json", false, "print the summary as one JSON object")
	ids := fs.Bool("ids", false, "list the document ids (one a line) instead")
	dir, err := parseWithDir(fs, args)
	if err != nil {
		return err
	}
	ctx := context.Background()
	r, err := openRun(ctx, dir)
	if err != nil {
		return err
	}
	if *ids {
		return r.Documents(ctx, outputs.DocColumns{}, func(d outputs.Document) error {
			_, err := fmt.Fprintln(stdout, d.ID)
			return err
		})
	}
	s, err := r.Summarize(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(inspectJSON{Summary: s, Sphere: r.Sphere != nil})
	}
	printSummary(stdout, s, r)
	return nil
}

// inspectJSON is the --json output: the summary plus whether a sphere exists.
type inspectJSON struct {
	*outputs.Summary
	Sphere bool `json:"sphere"`
}

// parseWithDir parses flags given before or after the one positional DIR.
func parseWithDir(fs *flag.FlagSet, args []string) (string, error) {
	var dir string
	var rest []string
	// Go's flag package stops at the first positional argument; take DIR
	// out wherever it stands (flags taking values use --flag=value or
	// --flag value, so a bare word after a value flag is that flag's value).
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") && dir == "" && (i == 0 || !takesValue(args[i-1])) {
			dir = a
			continue
		}
		rest = append(rest, a)
	}
	if err := parseFlags(fs, rest); err != nil {
		return "", err
	}
	if dir == "" {
		return "", usageErrorf("give the run's output DIR")
	}
	return dir, nil
}

// valueFlags names the flags of inspect, plot and report that take a value.
var valueFlags = map[string]bool{"doc": true, "out": true, "bytes": true, "examples": true, "threshold": true}

func takesValue(arg string) bool {
	name := strings.TrimLeft(arg, "-")
	return strings.HasPrefix(arg, "-") && !strings.Contains(name, "=") && valueFlags[name]
}

func openRun(ctx context.Context, dir string) (*outputs.Run, error) {
	r, err := outputs.Open(ctx, dir)
	if errors.Is(err, outputs.ErrNotARun) {
		return nil, usageErrorf("%v", err)
	}
	return r, err
}

func printSummary(w io.Writer, s *outputs.Summary, r *outputs.Run) {
	run := s.Run
	fmt.Fprintf(w, "bltpipe run in %s (%s, written by %s %s)\n\n", s.Dir, r.Manifest.SchemaVersion, run.Tool, run.Version)
	var mods []string
	for m, n := range s.Modalities {
		mods = append(mods, fmt.Sprintf("%s %s", m, num(n)))
	}
	sort.Strings(mods)
	row := func(k, v string) { fmt.Fprintf(w, "  %-16s %s\n", k, v) }
	row("documents", fmt.Sprintf("%s (%s)", num(s.Documents), strings.Join(mods, ", ")))
	row("bytes", fmt.Sprintf("%s (%s)", num(s.Bytes), progress.HumanBytes(s.Bytes)))
	row("tokens", num(s.Tokens)+" (bytes + BOS + EOS per document)")
	row("patches", num(s.Patches))
	row("splits", num(s.Splits))
	row("patch length", fmt.Sprintf("mean %.2f tokens (%.2f bytes), median %g tokens", s.MeanPatchTokens, s.MeanPatchBytes, s.MedianPatchTokens))
	row("on disk", fmt.Sprintf("%s in %d files", progress.HumanBytes(s.DiskBytes), len(r.Manifest.Shards)))

	fmt.Fprintln(w)
	for _, r := range modelRows(run.Model) {
		row(r.K, r.V)
	}
	row("patcher", patcherLine(run))
	row("embeddings", run.Embeddings)
	if run.BLTArrow != "" {
		row("blt arrow", fmt.Sprintf("blt/%s.shard_K.arrow", run.BLTArrow))
	}
	row("segmenter", run.Segmenter)
	row("inputs", strings.Join(run.Inputs, ", "))
	if t := s.Timing; t != nil {
		row("wall time", fmt.Sprintf("%.1f s on %s (%s → %s)", t.WallSeconds, t.Runner, t.Started, t.Finished))
		row("throughput", fmt.Sprintf("%s/s, %s tokens/s, %.1f documents/s", progress.HumanBytes(int64(t.BytesPerSec)), num(int64(t.TokensPerSec)), t.DocsPerSec))
	} else {
		row("throughput", "not recorded (no _TIMING.json: bltpipe run writes it)")
	}

	fmt.Fprintln(w)
	if s.RejectsByStage == nil {
		row("rejects", "no rejects/ table")
	} else {
		var stages []string
		var total int64
		for st, n := range s.RejectsByStage {
			stages = append(stages, fmt.Sprintf("%s %s", st, num(n)))
			total += n
		}
		sort.Strings(stages)
		row("rejects", fmt.Sprintf("%s (%s)", num(total), strings.Join(stages, ", ")))
	}

	if run.Model.Config != nil {
		fmt.Fprintf(w, "\nentropy per token (nats, %s tokens):\n", num(s.Entropy.N))
		textHistogram(w, s.Entropy, "%5.2f", 40)
		fmt.Fprintf(w, "\nprominence per token (‖h‖ of the pre-norm hidden state):\n")
		textHistogram(w, s.Prominence, "%6.2f", 40)
	}
	fmt.Fprintf(w, "\npatch length (tokens):\n")
	textHistogram(w, plots.PatchLengthHistogram(s.PatchTokens), "%5.0f", 40)
	if sp := r.Sphere; sp != nil {
		fmt.Fprintf(w, "\nsphere (bltpipe waterfill): %s, %s patches in %d shells, max |count − capacity| %.0f\n", sp.Method, num(sp.Patches), sp.Shells, sp.MaxCountError)
	}
}

// modelRows describe the manifest's model: its directory, shape and
// weights, or that the run had none (--model none).
func modelRows(m write.Model) []kv {
	c := m.Config
	if c == nil {
		return []kv{{"model", m.Dir + " (no model pass: no entropies, prominence or embeddings)"}}
	}
	return []kv{
		{"model", fmt.Sprintf("%s: dim %d, %d layers, %d heads, window %d, vocab %d, %s", m.Dir, c.Dim, c.NLayers, c.NHeads, c.SlidingWindow, c.VocabSize, m.DType)},
		{"weights sha256", m.WeightsSHA256},
	}
}

// patcherLine describes the patcher parameters of the manifest.
func patcherLine(run write.Run) string {
	p := run.Patcher
	var b strings.Builder
	b.WriteString(p.Mode)
	switch p.Mode {
	case "entropy":
		if p.Monotonic {
			b.WriteString(", monotonic: entropy rise > " + plots.Nats(p.Threshold))
		} else {
			b.WriteString(", threshold " + plots.Nats(p.Threshold))
		}
		if p.ThresholdAdd != nil {
			b.WriteString(", and rise > " + plots.Nats(*p.ThresholdAdd))
		}
	case "static":
		fmt.Fprintf(&b, ", %d tokens a patch", p.PatchSize)
	}
	if p.MaxPatchLength > 0 {
		fmt.Fprintf(&b, ", patches split above %d tokens", p.MaxPatchLength)
	}
	return b.String()
}

// textHistogram prints one line per bin: its lower edge, a bar and the count.
// Empty bins at both ends are left out.
func textHistogram(w io.Writer, h *outputs.Histogram, edge string, width int) {
	first, last := -1, -1
	var peak int64
	for i, c := range h.Counts {
		if c > 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
		peak = max(peak, c)
	}
	if first < 0 {
		fmt.Fprintln(w, "  (no values)")
		return
	}
	for i := first; i <= last; i++ {
		c := h.Counts[i]
		bar := int((c*int64(width) + peak - 1) / peak)
		fmt.Fprintf(w, "  "+edge+" │%-*s %s\n", h.Lo+float64(i)*h.Width(), width, strings.Repeat("█", bar), num(c))
	}
}

// num formats a count with thousands separators.
func num(n int64) string { return thousands(int(n)) }
