// Package waterfill prepares what a water-filling allocator needs: per-patch
// prominence and entropy summaries (computed by the embed stage, written to
// patches/) and corpus-wide prominence statistics (count, mean, standard
// deviation, min, max) over tokens and over patches, computed with a Beam
// combine and handed to the finaliser as a side input (waterfill/_STATS.json).
//
// Determinism: floating-point sums depend on order, and a combine merges in
// whatever order the runner likes. So each split's documents are reduced in
// document order into a Partial, the combine only collects partials, and
// ExtractOutput merges them in split order (Chan et al.'s pairwise update).
// Same input → same bytes in _STATS.json on any runner.
package waterfill

import (
	"math"
	"reflect"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/bltpipe/bltpipe/transforms/record"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*Moments)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*Partial)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*Stats)(nil)).Elem())
	register.DoFn2x0[record.Scored, func(Partial)](&partialFn{})
	register.Emitter1[Partial]()
	register.Combiner3[[]Partial, Partial, Stats](&statsFn{})
}

// Moments summarises a stream of values: N, Mean, M2 (sum of squared
// deviations), Min, Max.
type Moments struct {
	N        int64
	Mean, M2 float64
	Min, Max float64
}

// Add folds in one value.
func (m *Moments) Add(x float64) {
	m.N++
	if m.N == 1 {
		m.Min, m.Max = x, x
	} else {
		m.Min, m.Max = math.Min(m.Min, x), math.Max(m.Max, x)
	}
	d := x - m.Mean
	m.Mean += d / float64(m.N)
	m.M2 += d * (x - m.Mean)
}

// Merge folds in another summary.
func (m *Moments) Merge(o Moments) {
	if o.N == 0 {
		return
	}
	if m.N == 0 {
		*m = o
		return
	}
	n := m.N + o.N
	d := o.Mean - m.Mean
	m.Mean += d * float64(o.N) / float64(n)
	m.M2 += o.M2 + d*d*float64(m.N)*float64(o.N)/float64(n)
	m.Min, m.Max = math.Min(m.Min, o.Min), math.Max(m.Max, o.Max)
	m.N = n
}

// Std is the population standard deviation (0 for fewer than 2 values).
func (m Moments) Std() float64 {
	if m.N < 2 {
		return 0
	}
	return math.Sqrt(m.M2 / float64(m.N))
}

// Partial is one split's reduction.
type Partial struct {
	Split      string
	Documents  int64
	Tokens     Moments // per-token prominence
	Patches    Moments // per-patch mean prominence
	Entropy    Moments // per-token entropy (nats)
	PatchSizes Moments // tokens per patch
}

// Stats is the corpus-wide result.
type Stats struct {
	Splits     int64
	Documents  int64
	Tokens     Moments
	Patches    Moments
	Entropy    Moments
	PatchSizes Moments
}

// Prep reduces scored documents (with Patches filled by the embed stage) to
// a single-element PCollection<Stats>. It runs fused after the embed stage:
// only one small Partial per split leaves the fused stage.
func Prep(s beam.Scope, scored beam.PCollection) beam.PCollection {
	s = s.Scope("WaterfillPrep")
	partials := beam.ParDo(s, &partialFn{}, scored)
	return beam.Combine(s, &statsFn{}, partials)
}

// partialFn reduces the documents of each split in arrival order (a split's
// documents arrive contiguously and in order inside one bundle).
type partialFn struct {
	cur *Partial
}

func (fn *partialFn) ProcessElement(sc record.Scored, emit func(Partial)) {
	if fn.cur != nil && fn.cur.Split != sc.Doc.Split {
		emit(*fn.cur)
		fn.cur = nil
	}
	if fn.cur == nil {
		fn.cur = &Partial{Split: sc.Doc.Split}
	}
	AddDocument(fn.cur, sc)
}

func (fn *partialFn) FinishBundle(emit func(Partial)) {
	if fn.cur != nil {
		emit(*fn.cur)
		fn.cur = nil
	}
}

// AddDocument folds one scored document into a partial.
func AddDocument(p *Partial, sc record.Scored) {
	p.Documents++
	for i, v := range sc.Prominence {
		p.Tokens.Add(float64(v))
		p.Entropy.Add(float64(sc.Entropies[i]))
	}
	for _, pt := range sc.Patches {
		p.Patches.Add(float64(pt.MeanProminence))
		p.PatchSizes.Add(float64(pt.Tokens))
	}
}

// statsFn collects partials and merges them in split order.
type statsFn struct{}

func (statsFn) CreateAccumulator() []Partial { return nil }

func (statsFn) AddInput(acc []Partial, p Partial) []Partial { return append(acc, p) }

func (statsFn) MergeAccumulators(a, b []Partial) []Partial { return append(a, b...) }

func (statsFn) ExtractOutput(acc []Partial) Stats {
	return Merge(acc)
}

// Merge combines partials in split order. A split reported twice (a retried
// bundle whose first attempt's output was also kept) counts once.
func Merge(ps []Partial) Stats {
	sorted := append([]Partial(nil), ps...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Split < sorted[j].Split })
	var st Stats
	for i, p := range sorted {
		if i > 0 && sorted[i-1].Split == p.Split {
			continue
		}
		st.Splits++
		st.Documents += p.Documents
		st.Tokens.Merge(p.Tokens)
		st.Patches.Merge(p.Patches)
		st.Entropy.Merge(p.Entropy)
		st.PatchSizes.Merge(p.PatchSizes)
	}
	return st
}

// Summary is the JSON form of a Moments in _STATS.json.
type Summary struct {
	N    int64   `json:"n"`
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
}

// Summarise turns moments into their JSON summary.
func Summarise(m Moments) Summary {
	return Summary{N: m.N, Mean: m.Mean, Std: m.Std(), Min: m.Min, Max: m.Max}
}

// File is the content of waterfill/_STATS.json.
type File struct {
	SchemaVersion string `json:"schema_version"`
	Documents     int64  `json:"documents"`
	// TokenProminence is over every token of every document (BOS and EOS
	// included); PatchProminence over the patches' mean prominence.
	TokenProminence Summary `json:"token_prominence"`
	PatchProminence Summary `json:"patch_prominence"`
	TokenEntropy    Summary `json:"token_entropy_nats"`
	PatchTokens     Summary `json:"patch_tokens"`
}

// ToFile renders corpus stats for _STATS.json.
func ToFile(version string, st Stats) File {
	return File{
		SchemaVersion:   version,
		Documents:       st.Documents,
		TokenProminence: Summarise(st.Tokens),
		PatchProminence: Summarise(st.Patches),
		TokenEntropy:    Summarise(st.Entropy),
		PatchTokens:     Summarise(st.PatchSizes),
	}
}
