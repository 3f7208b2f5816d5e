package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/waterfill"
	"github.com/bltpipe/bltpipe/transforms/waterfill/sphere"
)

func TestWaterfillCommand(t *testing.T) {
	dir := t.TempDir()
	plot := filepath.Join(t.TempDir(), "shells.png")
	var out, errOut bytes.Buffer
	args := []string{"waterfill", "--input", dir, "--synthetic", "6000", "--synthetic-shard", "2500", "--shells", "32", "--plot", plot}
	if code := dispatch(args, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "placed") {
		t.Errorf("output: %s", out.String())
	}
	shards, _ := filepath.Glob(filepath.Join(dir, schemas.SphereDir, "part-*.parquet"))
	patches, _ := filepath.Glob(filepath.Join(dir, schemas.PatchesDir, "part-*.parquet"))
	if len(shards) != 3 || len(patches) != 3 {
		t.Errorf("%d sphere shards for %d patches shards, want 3 and 3", len(shards), len(patches))
	}
	var sf sphere.File
	b, err := os.ReadFile(filepath.Join(dir, schemas.SphereFile))
	if err != nil || json.Unmarshal(b, &sf) != nil || sf.Method != "rank" || sf.Shells != 32 || sf.MinRadius != 32 || sf.CapacityExponent != 1.5 {
		t.Fatalf("_SPHERE.json: %v %+v", err, sf)
	}
	f, err := os.Open(plot)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(f)
	f.Close()
	if err != nil || cfg.Width < 100 || cfg.Height < 100 {
		t.Errorf("plot: %v %dx%d", err, cfg.Width, cfg.Height)
	}

	// Re-allocate by entropy weight: _STATS.json says which weight.
	out.Reset()
	if code := dispatch([]string{"waterfill", "--input", dir, "--waterfill", "entropy", "--temperature", "0.5", "--max-radius", "500", "--shells", "16"}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var st waterfill.File
	b, _ = os.ReadFile(filepath.Join(dir, schemas.StatsFile))
	if err := json.Unmarshal(b, &st); err != nil || !strings.Contains(st.Allocation.Weight, "H/T") || st.Allocation.Temperature != 0.5 {
		t.Errorf("_STATS.json allocation: %v %+v", err, st.Allocation.Weight)
	}
	b, _ = os.ReadFile(filepath.Join(dir, schemas.SphereFile))
	if err := json.Unmarshal(b, &sf); err != nil || sf.Method != "entropy" || sf.OuterRadius != 500 || len(sf.Table) != 16 {
		t.Errorf("_SPHERE.json after entropy: %v method %s outer %v", err, sf.Method, sf.OuterRadius)
	}
}

func TestWaterfillUsageErrors(t *testing.T) {
	empty := t.TempDir()
	for _, args := range [][]string{
		{"waterfill"},
		{"waterfill", "--input", empty},
		{"waterfill", "--input", empty, "--waterfill", "thermal"},
		{"waterfill", "--input", empty, "--waterfill", "none"},
		{"waterfill", "--input", empty, "--temperature", "0"},
		{"waterfill", "--input", empty, "--shells", "0"},
		{"waterfill", "--input", empty, "--min-radius", "40", "--max-radius", "10"},
		{"waterfill", "--input", empty, "--max-radius", "-1"},
		{"waterfill", "--input", empty, "--plot-also", "x.json"},
	} {
		var out, errOut bytes.Buffer
		if code := dispatch(args, &out, &errOut); code != exitUsage {
			t.Errorf("%v: exit %d (%s), want %d", args, code, errOut.String(), exitUsage)
		}
	}
	var out, errOut bytes.Buffer
	if code := dispatch([]string{"waterfill", "--help"}, &out, &errOut); code != exitOK || strings.Contains(out.String(), "synthetic") || !strings.Contains(out.String(), "-capacity-exponent") {
		t.Errorf("--help: exit %d\n%s", code, out.String())
	}
}
