package embed

import (
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/bltpipe/bltpipe/transforms/record"
)

func TestMain(m *testing.M) { ptest.Main(m) }

func init() { register.Function1x1(patchCount) }

func patchCount(sc record.Scored) int { return len(sc.Patches) }

func scored() record.Scored {
	// "abc": tokens BOS a b c EOS, patches [2, 3] → bytes [0,1) and [1,3).
	return record.Scored{
		Doc:          record.Document{ID: "d", Data: []byte("abc")},
		Entropies:    []float32{1, 2, 3, 4, 5},
		Prominence:   []float32{10, 20, 30, 40, 60},
		PatchLengths: []int32{2, 3},
		Pooled:       []float32{1, 1, 2, 2},
		Dim:          2,
	}
}

func TestSummarise(t *testing.T) {
	sc := scored()
	if err := Summarise(&sc); err != nil {
		t.Fatal(err)
	}
	p0, p1 := sc.Patches[0], sc.Patches[1]
	if p0.ByteOffset != 0 || p0.ByteLength != 1 || p1.ByteOffset != 1 || p1.ByteLength != 2 {
		t.Errorf("byte ranges %+v %+v", p0, p1)
	}
	if p0.MeanEntropy != 1.5 || p0.MaxEntropy != 2 || p1.MeanEntropy != 4 || p1.MaxProminence != 60 || p1.MeanProminence != 130.0/3 {
		t.Errorf("summaries %+v %+v", p0, p1)
	}
	if p1.Embedding[0] != 2 || len(p1.Embedding) != 2 || sc.Pooled != nil {
		t.Errorf("embedding %v, pooled %v", p1.Embedding, sc.Pooled)
	}
	bad := scored()
	bad.PatchLengths = []int32{2, 2}
	if err := Summarise(&bad); err == nil {
		t.Error("lengths not summing to the token count: no error")
	}
}

func TestEmbedOnPrism(t *testing.T) {
	p, s := beam.NewPipelineWithRoot()
	out := Embed(s, beam.Create(s, scored()))
	passert.Equals(s, beam.ParDo(s, patchCount, out), 2)
	ptest.RunAndValidate(t, p)
}
