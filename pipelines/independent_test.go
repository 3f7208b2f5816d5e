package pipelines

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// needTool returns the path of an external reader, or skips the test when
// it is absent locally. In CI (CI=true) a missing tool fails the test: the
// Makefile's test-tools target installs them.
func needTool(t *testing.T, name, hint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found in CI (%s)", name, hint)
		}
		t.Skipf("%s not installed (%s)", name, hint)
	}
	return p
}

func duckdbDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "test", "duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@duckdb", "node-api")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("test/duckdb/node_modules missing in CI: run make test-tools")
		}
		t.Skip("test/duckdb/node_modules missing: run make test-tools (npm ci in test/duckdb)")
	}
	return dir
}

type duckFacts struct {
	Documents struct {
		Rows         int64 `json:"rows"`
		Tokens       int64 `json:"tokens"`
		Bytes        int64 `json:"bytes"`
		DistinctIDs  int64 `json:"distinct_ids"`
		BadLengths   int64 `json:"bad_lengths"`
		BadPatchSums int64 `json:"bad_patch_sums"`
	}
	Patches struct {
		Rows   int64 `json:"rows"`
		Tokens int64 `json:"tokens"`
		MinDim int   `json:"min_dim"`
		MaxDim int   `json:"max_dim"`
	}
	Nulls struct {
		Entropies      int64 `json:"entropies"`
		Prominence     int64 `json:"prominence"`
		PatchSummaries int64 `json:"patch_summaries"`
	}
	PatchMismatches struct{ N int64 } `json:"patch_mismatches"`
	Join            struct {
		Rows       int64   `json:"rows"`
		Docs       int64   `json:"docs"`
		OutOfRange int64   `json:"out_of_range"`
		BadBytes   int64   `json:"bad_bytes"`
		MaxMeanErr float64 `json:"max_mean_err"`
		MaxMaxErr  float64 `json:"max_max_err"`
	} `json:"join"`
	Samples []struct {
		DocID     string  `json:"doc_id"`
		NumTokens int64   `json:"num_tokens"`
		E0        float64 `json:"e0"`
		ELast     float64 `json:"e_last"`
		P1        float64 `json:"p1"`
		L0        int32   `json:"l0"`
	}
	PatchSamples []struct {
		DocID      string  `json:"doc_id"`
		PatchIndex int32   `json:"patch_index"`
		ByteOffset int64   `json:"byte_offset"`
		ByteLength int64   `json:"byte_length"`
		V0         float64 `json:"v0"`
	} `json:"patch_samples"`
	BLT struct {
		Files, Rows, Entropies, Complete int
		Schema                           []string
		Samples                          []struct {
			SampleID string  `json:"sample_id"`
			TextLen  int     `json:"text_len"`
			N        int     `json:"n"`
			E0       float64 `json:"e0"`
		}
	} `json:"blt"`
}

// duckCheck runs test/duckdb/check.mjs over an output directory.
func duckCheck(t *testing.T, node, dir, out string) duckFacts {
	t.Helper()
	cmd := exec.Command(node, filepath.Join(dir, "check.mjs"), out)
	cmd.Dir = dir
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node check.mjs: %v\n%s", err, b)
	}
	var f duckFacts
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return f
}

func f32eq(a float64, b float32) bool { return math.Abs(a-float64(b)) <= 1e-6*math.Max(1, math.Abs(a)) }

// DuckDB (Parquet) and Apache Arrow JS (BLT Arrow IPC) read every table the
// pipeline wrote and agree with the Go reader on counts and values.
func TestOutputsReadByDuckDBAndArrowJS(t *testing.T) {
	node := needTool(t, "node", "apt-get install nodejs")
	dir := duckdbDir(t)
	c := writeCorpus(t)
	out := t.TempDir()
	o := testOptions(t, c, out)
	runPipeline(t, o)
	f := duckCheck(t, node, dir, out)
	docs := readDocs(t, out, nil)
	patches := readPatches(t, out)
	var tokens, bytes int64
	byID := map[string]docRow{}
	for _, d := range docs {
		tokens += d.NumTokens
		bytes += d.NumBytes
		byID[d.ID] = d
	}
	if f.Documents.Rows != int64(len(docs)) || f.Documents.DistinctIDs != int64(len(docs)) || f.Documents.Tokens != tokens || f.Documents.Bytes != bytes {
		t.Errorf("DuckDB documents %+v; Go reads %d rows, %d tokens, %d bytes", f.Documents, len(docs), tokens, bytes)
	}
	if f.Documents.BadLengths != 0 || f.Documents.BadPatchSums != 0 || f.PatchMismatches.N != 0 {
		t.Errorf("DuckDB finds inconsistent rows: %+v, %d patch mismatches", f.Documents, f.PatchMismatches.N)
	}
	if f.Nulls.Entropies != 0 || f.Nulls.Prominence != 0 || f.Nulls.PatchSummaries != 0 {
		t.Errorf("DuckDB finds nulls in a run with a model: %+v", f.Nulls)
	}
	if f.Patches.Rows != int64(len(patches)) || f.Patches.Tokens != tokens || f.Patches.MinDim != 32 || f.Patches.MaxDim != 32 {
		t.Errorf("DuckDB patches %+v; Go reads %d rows", f.Patches, len(patches))
	}
	// DuckDB's join of patches with documents: every patch finds its
	// document, and its summaries are those of the document's entropies.
	if f.Join.Rows != int64(len(patches)) || f.Join.Docs != int64(len(docs)) || f.Join.OutOfRange != 0 || f.Join.BadBytes != 0 ||
		f.Join.MaxMeanErr > 1e-5 || f.Join.MaxMaxErr != 0 {
		t.Errorf("DuckDB join of patches with documents: %+v; want %d rows over %d documents, all consistent", f.Join, len(patches), len(docs))
	}
	ids := make([]string, 0, len(docs))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if len(f.Samples) != 5 {
		t.Fatalf("%d samples", len(f.Samples))
	}
	for i, s := range f.Samples {
		d := byID[s.DocID]
		if s.DocID != ids[i] || s.NumTokens != d.NumTokens || !f32eq(s.E0, d.Entropies[0]) || !f32eq(s.ELast, d.Entropies[len(d.Entropies)-1]) || !f32eq(s.P1, d.Prominence[1]) || s.L0 != d.PatchLengths[0] {
			t.Errorf("DuckDB sample %+v disagrees with Go row %s", s, d.ID)
		}
	}
	for _, s := range f.PatchSamples {
		found := false
		for _, p := range patches {
			if p.DocID == s.DocID && p.Index == s.PatchIndex {
				found = true
				if p.ByteOffset != s.ByteOffset || p.ByteLength != s.ByteLength || !f32eq(s.V0, p.Embedding[0]) {
					t.Errorf("DuckDB patch %+v, Go %+v", s, p)
				}
			}
		}
		if !found {
			t.Errorf("DuckDB patch %+v not found by Go", s)
		}
	}
	// BLT Arrow: every UTF-8 document, entropies as float16, one marker per file.
	utf8Docs, utf8Tokens := 0, 0
	for _, d := range docs {
		if d.Modality == "text" {
			utf8Docs++
			utf8Tokens += int(d.NumTokens)
		}
	}
	if f.BLT.Files == 0 || f.BLT.Complete != f.BLT.Files || f.BLT.Rows != utf8Docs || f.BLT.Entropies != utf8Tokens {
		t.Errorf("Arrow JS reads BLT %+v; want %d rows, %d entropies", f.BLT, utf8Docs, utf8Tokens)
	}
	if got := strings.Join(f.BLT.Schema, ","); got != "sample_id:Utf8,text:Utf8,entropies:List<Float16>" {
		t.Errorf("BLT schema as Arrow JS sees it: %s", got)
	}
	for _, s := range f.BLT.Samples {
		d := byID[s.SampleID]
		if s.N != int(d.NumTokens) || s.TextLen != int(d.NumBytes) || math.Abs(s.E0-float64(d.Entropies[0])) > 0.01 {
			t.Errorf("BLT sample %+v vs %s (%d tokens, e0 %v)", s, d.ID, d.NumTokens, d.Entropies[0])
		}
	}
}
