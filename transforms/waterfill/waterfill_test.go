package waterfill

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/bltpipe/bltpipe/transforms/record"
)

func TestMain(m *testing.M) { ptest.Main(m) }

func init() { register.Function1x1(tokenCount) }

func tokenCount(st Stats) int64 { return st.Tokens.N }

func TestMomentsMergeMatchesDirect(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var all Moments
	parts := make([]Moments, 5)
	var xs []float64
	for i := 0; i < 1000; i++ {
		x := r.NormFloat64()*3 + 10
		xs = append(xs, x)
		all.Add(x)
		parts[i%5].Add(x)
	}
	var merged Moments
	for _, p := range parts {
		merged.Merge(p)
	}
	mean, ss := 0.0, 0.0
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	std := math.Sqrt(ss / float64(len(xs)))
	for _, m := range []Moments{all, merged} {
		if m.N != 1000 || math.Abs(m.Mean-mean) > 1e-9 || math.Abs(m.Std()-std) > 1e-9 {
			t.Errorf("moments %+v std %v, want mean %v std %v", m, m.Std(), mean, std)
		}
	}
}

func TestMergeIsOrderIndependent(t *testing.T) {
	var ps []Partial
	for i, split := range []string{"c", "a", "b", "a"} {
		p := Partial{Split: split}
		for j := 0; j < 10; j++ {
			p.Tokens.Add(float64(i*j) * 0.1)
		}
		if i == 3 {
			p = ps[1] // a retried split reported twice
		}
		ps = append(ps, p)
	}
	a := Merge(ps)
	b := Merge([]Partial{ps[3], ps[2], ps[0], ps[1]})
	if a != b {
		t.Errorf("merge depends on order: %+v vs %+v", a, b)
	}
	if a.Splits != 3 || a.Tokens.N != 30 {
		t.Errorf("duplicate split counted: %+v", a)
	}
}

func TestPrepOnPrism(t *testing.T) {
	var in []record.Scored
	for i, split := range []string{"s0", "s0", "s1"} {
		in = append(in, record.Scored{
			Doc:        record.Document{Split: split, Data: []byte("ab")},
			Entropies:  []float32{1, 2, 3, 4},
			Prominence: []float32{float32(i), 2, 3, 4},
			Patches:    []record.Patch{{Tokens: 2, MeanProminence: 1}, {Tokens: 2, MeanProminence: 3}},
		})
	}
	p, s := beam.NewPipelineWithRoot()
	st := Prep(s, beam.CreateList(s, in))
	passert.Equals(s, beam.ParDo(s, tokenCount, st), int64(12))
	ptest.RunAndValidate(t, p)
}
