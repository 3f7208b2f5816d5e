package waterfill

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/bltpipe/bltpipe/transforms/record"
)

func TestMain(m *testing.M) { ptest.Main(m) }

func init() {
	register.Function1x1(tokenCount)
	register.Function1x1(allocCounts)
}

func tokenCount(st Stats) int64 { return st.Tokens.N }

// allocCounts is valid patches, invalid patches and histogram total.
func allocCounts(st Stats) []int64 {
	return []int64{st.Alloc.N(), st.Alloc.Invalid, st.Alloc.Hist.Total(), int64(len(st.Alloc.Hist.Keys))}
}

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
	if !reflect.DeepEqual(a, b) {
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
	// One invalid patch (prominence 0) in the last document.
	in[2].Patches = append(in[2].Patches, record.Patch{Tokens: 1})
	p, s := beam.NewPipelineWithRoot()
	st := Prep(s, beam.CreateList(s, in))
	passert.Equals(s, beam.ParDo(s, tokenCount, st), int64(12))
	// 6 valid patches with p ∈ {1, 3}: two histogram bins.
	passert.Equals(s, beam.ParDo(s, allocCounts, st), []int64{6, 1, 6, 2})
	ptest.RunAndValidate(t, p)
}

// TestAllocHistogramIndependentOfSplitOrder: the combine folds histograms
// as partials come; any arrival order gives the same Stats.
func TestAllocHistogramIndependentOfSplitOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var parts []Partial
	for i := 0; i < 6; i++ {
		fn := &partialFn{}
		var got []Partial
		for d := 0; d < 3; d++ {
			sc := record.Scored{Doc: record.Document{Split: string(rune('a' + i))}}
			for j := 0; j < 50; j++ {
				v := float32(math.Exp(r.NormFloat64() + 3))
				sc.Patches = append(sc.Patches, record.Patch{Tokens: 1, MeanProminence: v, MaxProminence: 2 * v, MeanEntropy: float32(r.Float64())})
			}
			fn.ProcessElement(sc, func(p Partial) { got = append(got, p) })
		}
		fn.FinishBundle(func(p Partial) { got = append(got, p) })
		parts = append(parts, got...)
	}
	var c statsFn
	run := func(order []int) Stats {
		a, b := c.CreateAccumulator(), c.CreateAccumulator()
		for n, i := range order {
			if n%2 == 0 {
				a = c.AddInput(a, parts[i])
			} else {
				b = c.AddInput(b, parts[i])
			}
		}
		return c.ExtractOutput(c.MergeAccumulators(b, a))
	}
	x := run([]int{0, 1, 2, 3, 4, 5})
	y := run([]int{5, 3, 1, 0, 4, 2})
	if !reflect.DeepEqual(x, y) {
		t.Error("stats depend on the arrival order of partials")
	}
	if x.Alloc.N() != 900 || x.Alloc.Hist.Total() != 900 || x.Splits != 6 {
		t.Errorf("%d valid patches, histogram total %d, %d splits", x.Alloc.N(), x.Alloc.Hist.Total(), x.Splits)
	}
}
