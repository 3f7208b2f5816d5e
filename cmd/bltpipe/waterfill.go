package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/fsio"
	"github.com/bltpipe/bltpipe/transforms/waterfill/alloc"
	"github.com/bltpipe/bltpipe/transforms/waterfill/sphere"
)

func init() {
	register(command{
		name:    "waterfill",
		summary: "re-allocate an output directory's patches to shells (writes sphere/) without the model",
		run:     runWaterfill,
	})
}

const waterfillUsage = `Usage: bltpipe waterfill --input DIR [flags]

Places every patch of a bltpipe output directory on a shell of the sphere
(its direction is the patch embedding, its radius the shell's) without
rerunning the model. Reads DIR/patches/*.parquet twice, streaming (corpus
statistics, then placement), and writes:
  sphere/part-*.parquet    one row per valid patch: doc_id, patch_index,
                           weight, log_weight, coherence, shell, radius, outlier
  sphere/_SPHERE.json      radii, capacities and occupancy of every shell
  waterfill/_STATS.json    its "allocation" section (the rest is kept)
and refreshes the sphere entries of _MANIFEST.json. See docs/WATERFILL.md.

Methods (--waterfill):
  rank     water-filling: patches by prominence, poured into shells from
           the core outwards, shell k taking c_k = N·R_k^α/Σ R_j^α (default)
  entropy  the same by ln w = 2 ln p − H/T (low entropy, high prominence out)
  osmotic  the seed's iterative algorithm, reproducible (holds 16 B a patch)
  thrml    nearest level e_k = √k + k^1.5, radius k/S
Shells: R_k = r_min + k^1.2·scale, scale = 2·max p/S^1.2 unless --max-radius.

Examples:
  bltpipe waterfill --input out/
  bltpipe waterfill --input out/ --waterfill entropy --temperature 0.5 --plot shells.png
  bltpipe waterfill --input gs://bucket/run1 --shells 512 --max-radius 1000
`

// waterfillFlags are the allocation flags (shared with bltpipe run).
type waterfillFlags struct {
	method      *string
	shells      *int
	minRadius   *float64
	maxRadius   *float64
	exponent    *float64
	temperature *float64
	seed        *uint64
	rounds      *int
}

// addWaterfillFlags registers the allocation flags on fs.
func addWaterfillFlags(fs *flag.FlagSet) *waterfillFlags {
	d := alloc.DefaultConfig()
	return &waterfillFlags{
		method:      fs.String("waterfill", string(d.Method), "allocation `method`: none, rank, osmotic, thrml or entropy"),
		shells:      fs.Int("shells", d.Shells, "number of shells `S`"),
		minRadius:   fs.Float64("min-radius", d.MinRadius, "radius `r_min` of the hollow core (innermost shell)"),
		maxRadius:   fs.Float64("max-radius", 0, "radius `R` of the outermost shell (0: 2·max prominence·((S−1)/S)^1.2 + r_min)"),
		exponent:    fs.Float64("capacity-exponent", d.CapacityExponent, "capacity exponent `α`: c_k ∝ R_k^α"),
		temperature: fs.Float64("temperature", d.Temperature, "entropy temperature `T` in nats (--waterfill entropy)"),
		seed:        fs.Uint64("seed", d.Seed, "lateral-move mask `seed` (--waterfill osmotic)"),
		rounds:      fs.Int("rounds", d.MaxRounds, "at most `N` rounds (--waterfill osmotic)"),
	}
}

// config returns the validated allocation config.
func (w *waterfillFlags) config() (alloc.Config, error) {
	m, err := alloc.ParseMethod(*w.method)
	if err != nil {
		return alloc.Config{}, usageErrorf("%v", err)
	}
	c := alloc.Config{Method: m, Shells: *w.shells, MinRadius: *w.minRadius, MaxRadius: *w.maxRadius,
		CapacityExponent: *w.exponent, Temperature: *w.temperature, Seed: *w.seed, MaxRounds: *w.rounds}
	if c.MaxRadius < 0 {
		return c, usageErrorf("--max-radius %g: want 0 (from the prominence) or a radius above --min-radius", c.MaxRadius)
	}
	if err := c.Validate(); err != nil {
		return c, usageErrorf("%v", err)
	}
	return c, nil
}

// hiddenFlags are for tests and measurements, left out of --help.
var hiddenFlags = map[string]bool{"synthetic": true, "synthetic-shard": true}

func runWaterfill(args []string, stdout io.Writer) error {
	fs := newFlagSet("waterfill", waterfillUsage, stdout)
	fs.Usage = func() {
		io.WriteString(fs.Output(), waterfillUsage)
		io.WriteString(fs.Output(), "\nFlags:\n")
		shown := flag.NewFlagSet("", flag.ContinueOnError)
		shown.SetOutput(fs.Output())
		fs.VisitAll(func(f *flag.Flag) {
			if !hiddenFlags[f.Name] {
				shown.Var(f.Value, f.Name, f.Usage)
			}
		})
		shown.PrintDefaults()
	}
	input := fs.String("input", "", "bltpipe output `DIR` (local or gs://) holding patches/ (required)")
	wf := addWaterfillFlags(fs)
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "shards read or written at once")
	plotPath := fs.String("plot", "", "also draw occupancy against capacity per shell into `FILE`.png")
	plotAlso := fs.String("plot-also", "", "comma-separated other _SPHERE.json `FILES` to draw as further panels of --plot")
	synthetic := fs.Int64("synthetic", 0, "first write N synthetic patches into DIR/patches (tests, measurements)")
	syntheticShard := fs.Int64("synthetic-shard", 1<<20, "patches per synthetic shard")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *input == "" {
		return usageErrorf("no input: give --input DIR (a bltpipe output directory)")
	}
	if *workers < 1 {
		return usageErrorf("--workers must be ≥ 1")
	}
	c, err := wf.config()
	if err != nil {
		return err
	}
	if c.Method == alloc.MethodNone {
		return usageErrorf("--waterfill none allocates nothing; pick rank, osmotic, thrml or entropy")
	}
	var also []sphere.File
	if *plotAlso != "" {
		if *plotPath == "" {
			return usageErrorf("--plot-also needs --plot")
		}
		for _, p := range strings.Split(*plotAlso, ",") {
			b, err := os.ReadFile(strings.TrimSpace(p))
			if err != nil {
				return usageErrorf("--plot-also: %v", err)
			}
			var f sphere.File
			if err := json.Unmarshal(b, &f); err != nil {
				return usageErrorf("--plot-also %s: %v", p, err)
			}
			also = append(also, f)
		}
	}
	ctx := context.Background()
	if *synthetic > 0 {
		start := time.Now()
		if err := sphere.WriteSynthetic(ctx, *input, *synthetic, *syntheticShard, 1); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "bltpipe waterfill: wrote %d synthetic patches in %s\n", *synthetic, time.Since(start).Round(time.Millisecond))
	}
	rep, err := sphere.Run(ctx, sphere.Options{Dir: *input, Alloc: c, Workers: *workers})
	if err != nil {
		if strings.Contains(err.Error(), "no patches/") {
			return usageErrorf("%v", err)
		}
		return err
	}
	s := rep.Sphere
	fmt.Fprintf(stdout, "bltpipe waterfill: %s over %d shards: statistics %s, placement %s\n", c.Method, rep.Patches, rep.Scan.Round(time.Millisecond), rep.Place.Round(time.Millisecond))
	fmt.Fprintf(stdout, "  patches:  %d placed, %d invalid (prominence ≤ 1e-6) dropped\n", s.Patches, rep.Stats.Invalid)
	fmt.Fprintf(stdout, "  shells:   %d, radius %.4g…%.4g, max |count − capacity| %.1f\n", s.Shells, s.Table[0].Radius, s.Table[len(s.Table)-1].Radius, s.MaxCountError)
	h := rep.Stats.File().Histogram
	fmt.Fprintf(stdout, "  histogram: %d bins of %.3g nats, rank error ≤ %.4g%% of N\n", h.Bins, h.Width, 100*h.RankErrorBound)
	if s.Osmotic != nil {
		fmt.Fprintf(stdout, "  osmotic:  %d rounds, converged %v\n", s.Osmotic.Rounds, s.Osmotic.Converged)
	}
	fmt.Fprintf(stdout, "output:   %s\n", fsio.Join(*input, schemas.SphereDir))
	if *plotPath != "" {
		var buf bytes.Buffer
		if err := sphere.PlotOccupancy(&buf, append([]sphere.File{s}, also...)...); err != nil {
			return err
		}
		if err := os.WriteFile(*plotPath, buf.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "plot:     %s\n", *plotPath)
	}
	return nil
}
