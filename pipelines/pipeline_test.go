package pipelines

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/bltpipe/bltpipe/modelio"
	"github.com/bltpipe/bltpipe/modelio/patcher"
	"github.com/bltpipe/bltpipe/modelio/tokenizer"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/testcorpus"
	"github.com/bltpipe/bltpipe/transforms/write"
)

func TestMain(m *testing.M) { ptest.Main(m) }

// corpus is a mixed test input and the bytes of every document by doc_id.
type corpus struct {
	dir   string
	texts map[string][]byte
	keep  map[string]map[string]string // doc_id → kept column → value
}

func writeCorpus(t *testing.T) corpus {
	t.Helper()
	dir := t.TempDir()
	c := corpus{dir: dir, texts: map[string][]byte{}, keep: map[string]map[string]string{}}
	put := func(name string, b []byte) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	recs := testcorpus.Records("a", 11, 30, 40)
	b, err := testcorpus.JSONL(recs, "")
	if err != nil {
		t.Fatal(err)
	}
	put("jsonl/a.jsonl", b)
	for _, r := range recs {
		c.texts[r.SampleID] = []byte(r.Text)
		c.keep[r.SampleID] = map[string]string{"lang": r.Lang}
	}
	gz := testcorpus.Records("g", 99, 10, 25)
	if b, err = testcorpus.JSONL(gz, "gzip"); err != nil {
		t.Fatal(err)
	}
	put("jsonl/b.jsonl.gz", b)
	for _, r := range gz {
		c.texts[r.SampleID] = []byte(r.Text)
		c.keep[r.SampleID] = map[string]string{"lang": r.Lang}
	}
	rows := testcorpus.Rows(5, 23, 60)
	if err := testcorpus.WriteParquet(filepath.Join(dir, "fineweb", "000.parquet"), rows, 5); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		c.texts[r.URL] = []byte(r.Text)
		c.keep[r.URL] = map[string]string{"url": r.URL}
	}
	for i, txt := range []string{"Plain text file one.\n", testcorpus.Text(3, 300)} {
		name := filepath.Join("text", []string{"one.txt", "two.md"}[i])
		put(name, []byte(txt))
		c.texts[filepath.Join(dir, name)] = []byte(txt)
	}
	bin := []byte{0x89, 'P', 'N', 'G', 0, 0, 0, 13, 0xff, 0xfe, 1, 2, 3}
	put("text/blob.bin", bin)
	c.texts[filepath.Join(dir, "text", "blob.bin")] = bin
	return c
}

func testOptions(t *testing.T, c corpus, out string) Options {
	t.Helper()
	model := filepath.Join(c.dir, "..", filepath.Base(c.dir)+"-model")
	if _, err := os.Stat(model); err != nil {
		if err := testcorpus.WriteSmallModel(model, 42); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(model) })
	}
	p := patcher.DefaultOptions()
	// Random weights: entropies sit in a narrow band just under ln(260) ≈
	// 5.5607; this threshold cuts inside it, so patches have varied lengths.
	p.Threshold = 5.5542
	return Options{
		Inputs:          []string{filepath.Join(c.dir, "jsonl", "*"), filepath.Join(c.dir, "fineweb"), filepath.Join(c.dir, "text", "*")},
		Output:          out,
		ModelDir:        model,
		Patcher:         p,
		Embeddings:      true,
		BLTArrow:        "corpus",
		BatchTokens:     300,
		Keep:            []string{"lang", "url"},
		JSONLSplitBytes: 1500,
		Version:         "test",
		// text/blob.bin is a PNG signature over junk: keep its basic
		// reading (modality "bytes") rather than rejecting it.
		Limits: Limits{KeepFallback: true},
	}
}

func runPipeline(t *testing.T, o Options) {
	t.Helper()
	ptest.BuildAndRun(t, func(s beam.Scope) {
		if _, err := Build(s, o); err != nil {
			t.Fatal(err)
		}
	})
}

// hashTree returns the sha256 of every file under dir by relative path.
func hashTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out, err := testcorpus.HashTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func near(a, b, tol float32) bool { return math.Abs(float64(a-b)) <= float64(tol) }

// checkOutputs verifies documents/ and patches/ against the scorer run
// directly on each document.
func checkOutputs(t *testing.T, c corpus, o Options) {
	t.Helper()
	docs := readDocs(t, o.Output, o.Keep)
	if len(docs) != len(c.texts) {
		t.Fatalf("documents/ has %d rows, want %d", len(docs), len(c.texts))
	}
	w, err := modelio.LoadModel(o.ModelDir)
	if err != nil {
		t.Fatal(err)
	}
	scorer, err := modelio.NewScorer(w, modelio.ScorerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	patches := readPatches(t, o.Output)
	byDoc := map[string][]patchRow{}
	for _, p := range patches {
		byDoc[p.DocID] = append(byDoc[p.DocID], p)
	}
	seen := map[string]bool{}
	pooledChecked := 0
	for _, d := range docs {
		text, ok := c.texts[d.ID]
		if !ok || seen[d.ID] {
			t.Fatalf("unexpected or duplicate doc_id %q", d.ID)
		}
		seen[d.ID] = true
		if d.NumBytes != int64(len(text)) || d.NumTokens != d.NumBytes+2 || len(d.Entropies) != int(d.NumTokens) || len(d.Prominence) != int(d.NumTokens) {
			t.Fatalf("%s: num_bytes %d num_tokens %d entropies %d, text %d bytes", d.ID, d.NumBytes, d.NumTokens, len(d.Entropies), len(text))
		}
		wantMod := "text"
		if strings.HasSuffix(d.ID, ".bin") {
			wantMod = "bytes"
		}
		if d.Modality != wantMod {
			t.Errorf("%s: modality %s, want %s", d.ID, d.Modality, wantMod)
		}
		for k, v := range c.keep[d.ID] {
			if d.Keep[k] == nil || *d.Keep[k] != v {
				t.Errorf("%s: kept %s = %v, want %q", d.ID, k, d.Keep[k], v)
			}
		}
		toks := tokenizer.EncodeDoc(text)
		var cut modelio.Cut
		if pooledChecked < 5 {
			cut = modelio.TokenCut
		}
		ref, err := scorer.Score([][]int32{toks}, cut)
		if err != nil {
			t.Fatal(err)
		}
		for i := range toks {
			if !near(ref[0].Entropies[i], d.Entropies[i], 1e-4) || !near(ref[0].Prominence[i], d.Prominence[i], 1e-3) {
				t.Fatalf("%s token %d: entropy %v prominence %v, scorer says %v %v", d.ID, i, d.Entropies[i], d.Prominence[i], ref[0].Entropies[i], ref[0].Prominence[i])
			}
		}
		want, err := patcher.Patch(toks, d.Entropies, o.Patcher)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) != len(d.PatchLengths) {
			t.Fatalf("%s: %d patches, patcher gives %d", d.ID, len(d.PatchLengths), len(want))
		}
		ps := byDoc[d.ID]
		if len(ps) != len(d.PatchLengths) {
			t.Fatalf("%s: %d patch rows for %d patch_lengths", d.ID, len(ps), len(d.PatchLengths))
		}
		start := int32(0)
		for i, p := range ps {
			off, bl := schemas.PatchBytes(int(start), int(d.PatchLengths[i]), len(text))
			if p.Index != int32(i) || p.TokenOffset != start || p.Tokens != d.PatchLengths[i] || p.ByteOffset != int64(off) || p.ByteLength != int64(bl) {
				t.Fatalf("%s patch %d: %+v, want start %d len %d bytes [%d,+%d)", d.ID, i, p, start, d.PatchLengths[i], off, bl)
			}
			if len(p.Embedding) != w.Config.Dim {
				t.Fatalf("%s patch %d: embedding of %d floats", d.ID, i, len(p.Embedding))
			}
			if ref[0].Pooled != nil {
				dim := w.Config.Dim
				for j := 0; j < dim; j++ {
					sum := 0.0
					for k := start; k < start+p.Tokens; k++ {
						sum += float64(ref[0].Pooled[int(k)*dim+j])
					}
					if !near(float32(sum/float64(p.Tokens)), p.Embedding[j], 1e-3) {
						t.Fatalf("%s patch %d dim %d: embedding %v, direct mean %v", d.ID, i, j, p.Embedding[j], sum/float64(p.Tokens))
					}
				}
			}
			start += p.Tokens
		}
		if ref[0].Pooled != nil {
			pooledChecked++
		}
	}
	if len(patches) >= int(sumTokens(docs))*9/10 || len(patches) <= len(docs) {
		t.Errorf("%d patches for %d tokens in %d documents: threshold does not exercise patching", len(patches), sumTokens(docs), len(docs))
	}
	if pooledChecked == 0 {
		t.Fatal("no pooled embedding checked")
	}
	var m write.Manifest
	b, err := os.ReadFile(filepath.Join(o.Output, schemas.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Counts.Documents != int64(len(docs)) || m.Counts.Patches != int64(len(patches)) || m.Run.Model.WeightsSHA256 != w.SHA256 {
		t.Errorf("manifest counts %+v model %s", m.Counts, m.Run.Model.WeightsSHA256)
	}
	if m.Run.Segmenter != "modality" {
		t.Errorf("manifest segmenter %q, want modality (transforms/pretokenize/modality linked in)", m.Run.Segmenter)
	}
	for _, s := range m.Shards {
		if _, err := os.Stat(filepath.Join(o.Output, filepath.FromSlash(s.Path))); err != nil {
			t.Errorf("manifest lists missing file: %v", err)
		}
	}
}

func TestEndToEndOnPrism(t *testing.T) {
	c := writeCorpus(t)
	out := t.TempDir()
	o := testOptions(t, c, out)
	runPipeline(t, o)
	checkOutputs(t, c, o)
	first := hashTree(t, out)
	t.Logf("first run wrote %d files", len(first))
	for _, want := range []string{schemas.ManifestFile, schemas.StatsFile} {
		if first[want] == "" {
			t.Errorf("missing %s", want)
		}
	}
	var nBLT, nComplete, nGraph int
	for p := range first {
		switch {
		case strings.HasSuffix(p, ".arrow"):
			nBLT++
		case strings.HasSuffix(p, ".arrow.complete"):
			nComplete++
		case strings.HasSuffix(p, schemas.HypergraphExt):
			nGraph++
		case strings.Contains(p, "bltpipe-tmp"):
			t.Errorf("temporary file left: %s", p)
		}
	}
	if nBLT == 0 || nBLT != nComplete || nGraph == 0 {
		t.Errorf("%d BLT arrow files, %d markers, %d sidecars", nBLT, nComplete, nGraph)
	}

	// A rerun into the same directory gives byte-identical files and no
	// duplicates; a stale shard from another input disappears.
	stale := filepath.Join(out, "documents", "part-99999-deadbeef.parquet")
	if err := os.WriteFile(stale, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	runPipeline(t, o)
	second := hashTree(t, out)
	if len(second) != len(first) {
		t.Errorf("rerun has %d files, first run %d", len(second), len(first))
	}
	for p, h := range first {
		if second[p] != h {
			t.Errorf("%s differs between runs", p)
		}
	}
	checkOutputs(t, c, o)
}

func sumTokens(docs []docRow) int64 {
	n := int64(0)
	for _, d := range docs {
		n += d.NumTokens
	}
	return n
}
