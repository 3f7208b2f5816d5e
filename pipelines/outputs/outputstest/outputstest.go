// Package outputstest produces a small finished bltpipe run for the tests of
// the packages that read one (pipelines/outputs, the plots, bltpipe
// inspect/plot/report). It runs the real pipeline on prism over a corpus
// from transforms/testcorpus with its small random-weight model.
package outputstest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/bltpipe/bltpipe/modelio/patcher"
	"github.com/bltpipe/bltpipe/pipelines"
	"github.com/bltpipe/bltpipe/runners"
	"github.com/bltpipe/bltpipe/transforms/testcorpus"
)

// Threshold cuts inside the narrow entropy band of testcorpus's random
// model (just under ln 260 ≈ 5.5607 nats), so patches have varied lengths.
const Threshold = 5.5542

// Corpus describes what Run wrote: the documents' ids and texts.
type Corpus struct {
	Out   string            // the finished output directory
	Texts map[string]string // doc_id → text
	IDs   []string          // doc_ids in input order
}

// Run writes 14 JSONL documents (sample_id "doc-0" …) and a plain text file,
// runs the pipeline with --blt-arrow corpus and embeddings on prism into a
// temporary directory, and returns it.
func Run(t testing.TB) Corpus {
	t.Helper()
	dir := t.TempDir()
	c := Corpus{Out: filepath.Join(dir, "out"), Texts: map[string]string{}}
	recs := testcorpus.Records("doc", 7, 14, 90)
	b, err := testcorpus.JSONL(recs, "")
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "in")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in, "a.jsonl"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		c.Texts[r.SampleID] = r.Text
		c.IDs = append(c.IDs, r.SampleID)
	}
	note := filepath.Join(in, "note.txt")
	if err := os.WriteFile(note, []byte("Byte latent transformers patch bytes where entropy is high."), 0o644); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "model")
	if err := testcorpus.WriteSmallModel(model, 3); err != nil {
		t.Fatal(err)
	}
	p := patcher.DefaultOptions()
	p.Threshold = Threshold
	o := pipelines.Options{
		Inputs: []string{in}, Output: c.Out, ModelDir: model, Patcher: p, Embeddings: true,
		BLTArrow: "corpus", BatchTokens: 400, JSONLSplitBytes: 700, RowGroupsPerSplit: 1, Version: "test",
	}
	rc, err := runners.Prepare(runners.Config{Runner: "prism", ProgressEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	pl, s := beam.NewPipelineWithRoot()
	if _, err := pipelines.Build(s, o); err != nil {
		t.Fatal(err)
	}
	if _, err := runners.Run(context.Background(), pl, rc); err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	return c
}
