package pipelines

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/bltpipe/bltpipe/modelio/patcher"
	"github.com/bltpipe/bltpipe/transforms/patch"
	"github.com/bltpipe/bltpipe/transforms/testcorpus"
	"github.com/bltpipe/bltpipe/transforms/waterfill/alloc"
)

// BenchmarkModelFreeJSONL is the CPU side of the pipeline alone (issue #5:
// read, pretokenize, patch and write with no model pass): `bltpipe run
// --model none --patching static --embeddings none` over 8 JSONL files of
// web-sized documents (~5.4 KB), on prism. MB/s is JSONL bytes in.
func BenchmarkModelFreeJSONL(b *testing.B) {
	in := b.TempDir()
	var total int64
	for f := range 8 {
		data, err := testcorpus.JSONL(testcorpus.Records(fmt.Sprintf("f%d", f), uint64(1000*f), 400, 5400), "")
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(in, fmt.Sprintf("part-%d.jsonl", f)), data, 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(len(data))
	}
	b.SetBytes(total)
	for i := 0; b.Loop(); i++ {
		o := Options{
			Inputs: []string{filepath.Join(in, "*.jsonl")}, Output: filepath.Join(b.TempDir(), fmt.Sprint(i)),
			ModelDir: patch.NoModel, Patcher: patcher.Options{Mode: patcher.ModeStatic, PatchSize: 4},
			Waterfill: alloc.Config{Method: alloc.MethodNone}, Version: "bench",
		}
		p, s := beam.NewPipelineWithRoot()
		if _, err := Build(s, o); err != nil {
			b.Fatal(err)
		}
		if _, err := prism.Execute(b.Context(), p); err != nil {
			b.Fatal(err)
		}
	}
}
