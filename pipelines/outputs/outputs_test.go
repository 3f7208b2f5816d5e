package outputs_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bltpipe/bltpipe/pipelines/outputs"
	"github.com/bltpipe/bltpipe/pipelines/outputs/outputstest"
	"github.com/bltpipe/bltpipe/schemas"
)

func TestReadFinishedRun(t *testing.T) {
	ctx := context.Background()
	c := outputstest.Run(t)
	r, err := outputs.Open(ctx, c.Out)
	if err != nil {
		t.Fatal(err)
	}
	if r.Stats == nil || r.Timing != nil {
		t.Errorf("stats %v, timing %v: want stats, no timing (only bltpipe run writes it)", r.Stats != nil, r.Timing != nil)
	}
	if r.Sphere != nil && (r.Sphere.Patches == 0 || len(r.Sphere.Table) == 0) {
		t.Errorf("sphere/_SPHERE.json read empty: %+v", r.Sphere)
	}
	// Every JSONL document, in input order, with consistent lengths.
	var ids []string
	var tokens int64
	err = r.Documents(ctx, outputs.DocColumns{Entropies: true}, func(d outputs.Document) error {
		if d.Source != filepath.Join(filepath.Dir(c.Out), "in", "note.txt") {
			ids = append(ids, d.ID)
			if int(d.NumBytes) != len(c.Texts[d.ID]) {
				t.Errorf("%s: %d bytes, wrote %d", d.ID, d.NumBytes, len(c.Texts[d.ID]))
			}
		}
		var sum int64
		for _, l := range d.PatchLengths {
			sum += int64(l)
		}
		if int64(len(d.Entropies)) != d.NumTokens || sum != d.NumTokens || d.Prominence != nil {
			t.Errorf("%s: %d entropies, patch lengths sum %d, %d tokens, prominence read %v", d.ID, len(d.Entropies), sum, d.NumTokens, d.Prominence != nil)
		}
		tokens += d.NumTokens
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids, ",") != strings.Join(c.IDs, ",") {
		t.Errorf("ids %v, want %v", ids, c.IDs)
	}
	// Patches agree with the documents' patch lengths and the manifest.
	var patches int64
	var patchTokens int64
	if err := r.Patches(ctx, func(p outputs.Patch) error { patches++; patchTokens += int64(p.Tokens); return nil }); err != nil {
		t.Fatal(err)
	}
	if patches != r.Manifest.Counts.Patches || patchTokens != tokens || tokens != r.Manifest.Counts.Tokens {
		t.Errorf("patches %d (manifest %d), patch tokens %d, document tokens %d (manifest %d)", patches, r.Manifest.Counts.Patches, patchTokens, tokens, r.Manifest.Counts.Tokens)
	}
	// One document by id; its text from the BLT Arrow shards.
	d, err := r.Document(ctx, "doc-3")
	if err != nil || d.ID != "doc-3" || len(d.Prominence) != int(d.NumTokens) {
		t.Fatalf("Document(doc-3) = %s, %d prominence values, %v", d.ID, len(d.Prominence), err)
	}
	text, ok, err := r.Text(ctx, "doc-3")
	if err != nil || !ok || string(text) != c.Texts["doc-3"] {
		t.Errorf("Text(doc-3) = %q, %v, %v; want %q", text, ok, err, c.Texts["doc-3"])
	}
	if _, err := r.Document(ctx, "nope"); err == nil || !strings.Contains(err.Error(), "doc-0") {
		t.Errorf("missing document: %v", err)
	}
	if rj, err := r.RejectsByStage(ctx); err != nil || rj != nil {
		t.Errorf("rejects without a rejects/ dir: %v, %v", rj, err)
	}

	s, err := r.Summarize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Documents != int64(len(c.IDs)+1) || s.Tokens != tokens || s.Patches != patches || s.Tokens != s.Bytes+2*s.Documents {
		t.Errorf("summary %d docs %d bytes %d tokens %d patches", s.Documents, s.Bytes, s.Tokens, s.Patches)
	}
	if s.Entropy.N != tokens || s.Prominence.N != tokens {
		t.Errorf("histograms hold %d and %d values, want %d", s.Entropy.N, s.Prominence.N, tokens)
	}
	if math.Abs(s.MeanPatchTokens-float64(tokens)/float64(patches)) > 1e-9 || s.MedianPatchTokens < 1 {
		t.Errorf("mean %v median %v", s.MeanPatchTokens, s.MedianPatchTokens)
	}
	// The ranges come from _STATS.json and hold every value.
	for name, h := range map[string]*outputs.Histogram{"entropy": s.Entropy, "prominence": s.Prominence} {
		if h.Counts[0] == 0 || h.Counts[len(h.Counts)-1] == 0 {
			t.Errorf("%s histogram does not reach both ends: %v", name, h.Counts)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := outputs.Open(ctx, dir); !errors.Is(err, outputs.ErrNotARun) {
		t.Errorf("empty dir: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, schemas.ManifestFile), []byte(`{"schema_version":"bltpipe.v0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := outputs.Open(ctx, dir); err == nil || !strings.Contains(err.Error(), "bltpipe.v0") {
		t.Errorf("old schema: %v", err)
	}
}

func TestMedianAndHistogram(t *testing.T) {
	h := outputs.NewHistogram(0, 4, 4)
	for _, v := range []float64{-1, 0, 0.99, 1, 3.99, 4, 100, math.NaN()} {
		h.Add(v)
	}
	if got := h.Counts; got[0] != 3 || got[1] != 1 || got[2] != 0 || got[3] != 3 || h.N != 7 {
		t.Errorf("counts %v n %d", got, h.N)
	}
}
