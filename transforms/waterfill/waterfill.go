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
//
// Allocation statistics (package alloc) ride along: each Partial carries an
// alloc.Summary of its split's valid patches, whose moments merge in split
// order like the others and whose log-weight histograms merge exactly (the
// combine folds them into one running histogram, so its memory does not
// grow with the number of splits). transforms/waterfill/sphere reads Stats
// as a side input to place every patch on its shell.
package waterfill

import (
	"iter"
	"reflect"
	"sort"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/bltpipe/bltpipe/transforms/record"
	"github.com/bltpipe/bltpipe/transforms/waterfill/alloc"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*Moments)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*Partial)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*Stats)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*statsAcc)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*alloc.Summary)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*alloc.Hist)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*alloc.Moments)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*alloc.Weighting)(nil)).Elem())
	register.DoFn2x0[record.Scored, func(Partial)](&partialFn{})
	register.Emitter1[Partial]()
	register.Combiner3[statsAcc, Partial, Stats](&statsFn{})
}

// Moments summarises a stream of values: N, Mean, M2 (sum of squared
// deviations), Min, Max (Welford updates, Chan et al. merges). It is
// alloc.Moments, which needs no Beam.
type Moments = alloc.Moments

// Partial is one split's reduction.
type Partial struct {
	Split      string
	Documents  int64
	Tokens     Moments // per-token prominence
	Patches    Moments // per-patch mean prominence
	Entropy    Moments // per-token entropy (nats)
	PatchSizes Moments // tokens per patch
	// Alloc summarises the split's valid patches for allocation.
	Alloc alloc.Summary
}

// Stats is the corpus-wide result.
type Stats struct {
	Splits     int64
	Documents  int64
	Tokens     Moments
	Patches    Moments
	Entropy    Moments
	PatchSizes Moments
	Alloc      alloc.Summary
}

// Prep reduces scored documents (with Patches filled by the embed stage) to
// a single-element PCollection<Stats>. It runs fused after the embed stage:
// only one small Partial per split leaves the fused stage.
//
// The allocation histogram is over ln p (rank, osmotic, thrml); use
// PrepWeighted for --waterfill entropy.
func Prep(s beam.Scope, scored beam.PCollection) beam.PCollection {
	return PrepWeighted(s, scored, alloc.Weighting{}, 1)
}

// PrepWeighted is Prep with the allocation weight's histogram over w's
// log-weight. Partials of splits not in scored (PCollection<Partial>, e.g.
// of splits an earlier run finished) may be given in more; they are
// merged in split order with the others.
func PrepWeighted(s beam.Scope, scored beam.PCollection, w alloc.Weighting, parts int, more ...beam.PCollection) beam.PCollection {
	s = s.Scope("WaterfillPrep")
	partials := beam.ParDo(s, &partialFn{Weighting: w, Parts: parts}, scored)
	if len(more) > 0 {
		partials = beam.Flatten(s, append([]beam.PCollection{partials}, more...)...)
	}
	return beam.Combine(s, &statsFn{}, partials)
}

// partialFn reduces the documents of each split in arrival order (a split's
// documents arrive contiguously and in order inside one bundle).
type partialFn struct {
	Weighting alloc.Weighting
	Parts     int // patches/ files a split is written to (schemas.PatchesParts)

	cur *SplitAcc
}

func (fn *partialFn) ProcessElement(sc record.Scored, emit func(Partial)) {
	if fn.cur != nil && fn.cur.p.Split != sc.Doc.Split {
		fn.flush(emit)
	}
	if fn.cur == nil {
		fn.cur = NewSplitAcc(sc.Doc.Split, fn.Weighting, fn.Parts)
	}
	fn.cur.Add(sc)
}

func (fn *partialFn) FinishBundle(emit func(Partial)) {
	if fn.cur != nil {
		fn.flush(emit)
	}
}

func (fn *partialFn) flush(emit func(Partial)) {
	emit(fn.cur.Partial())
	fn.cur = nil
}

// SplitAcc reduces one split's scored documents, added in order, to the
// split's Partial: what the stage computes for it. (The writer computes
// the same for the split's completion record, see transforms/resume.)
//
// The allocation summary is folded per patches/ file, as `bltpipe
// waterfill` folds it from the files: the split's k-th document into
// accumulator k mod parts, merged in part order (see
// sphere.ScanStats), so that both give the same bits.
type SplitAcc struct {
	p    Partial
	accs []*alloc.Acc
	docs int
}

// NewSplitAcc starts the partial of a split for a weighting, the split's
// patches being written to parts files (schemas.PatchesParts; ≤ 0 means 1).
func NewSplitAcc(split string, w alloc.Weighting, parts int) *SplitAcc {
	a := &SplitAcc{p: Partial{Split: split}}
	for range max(parts, 1) {
		a.accs = append(a.accs, alloc.NewAcc(w))
	}
	return a
}

// Add folds in the split's next document (not a reject).
func (a *SplitAcc) Add(sc record.Scored) {
	AddDocument(&a.p, sc)
	acc := a.accs[a.docs%len(a.accs)]
	a.docs++
	for _, pt := range sc.Patches {
		if pt.MeanProminence != pt.MeanProminence {
			return // NaN: no model ran, no prominence to allocate by
		}
		acc.Add(alloc.Patch{Prominence: pt.MeanProminence, MaxProminence: pt.MaxProminence, MeanEntropy: pt.MeanEntropy})
	}
}

// Partial returns the split's partial so far.
func (a *SplitAcc) Partial() Partial {
	p := a.p
	p.Alloc = MergeParts(a.accs[0].Summary().Weighting, func(yield func(alloc.Summary) bool) {
		for _, acc := range a.accs {
			if !yield(acc.Summary()) {
				return
			}
		}
	})
	return p
}

// MergeParts merges the summaries of one split's patches/ files in part
// order: the split's allocation summary.
func MergeParts(w alloc.Weighting, parts iter.Seq[alloc.Summary]) alloc.Summary {
	total := alloc.Summary{Weighting: w}
	for s := range parts {
		total.Merge(s)
	}
	return total
}

// AddDocument folds one scored document into a partial.
func AddDocument(p *Partial, sc record.Scored) {
	p.Documents++
	for i, v := range sc.Prominence {
		p.Tokens.Add(float64(v))
		p.Entropy.Add(float64(sc.Entropies[i]))
	}
	for _, pt := range sc.Patches {
		if pt.MeanProminence == pt.MeanProminence { // NaN: no model ran
			p.Patches.Add(float64(pt.MeanProminence))
		}
		p.PatchSizes.Add(float64(pt.Tokens))
	}
}

// statsFn collects partials and merges them in split order. Histograms are
// folded into one as partials arrive (exact integer counts, so the order
// does not matter); the partials kept hold only moments.
type statsFn struct{}

// statsAcc is statsFn's accumulator.
type statsAcc struct {
	Parts []Partial // Alloc.Hist emptied
	Hist  alloc.Hist
}

func (statsFn) CreateAccumulator() statsAcc { return statsAcc{} }

func (statsFn) AddInput(acc statsAcc, p Partial) statsAcc {
	acc.Hist = alloc.MergeHist(acc.Hist, p.Alloc.Hist)
	p.Alloc.Hist = alloc.Hist{}
	acc.Parts = append(acc.Parts, p)
	return acc
}

func (statsFn) MergeAccumulators(a, b statsAcc) statsAcc {
	return statsAcc{Parts: append(a.Parts, b.Parts...), Hist: alloc.MergeHist(a.Hist, b.Hist)}
}

// ExtractOutput merges the moments in split order. A split reported twice
// is counted once in the moments but twice in the histogram; alloc.NewPlan
// detects that (histogram total ≠ valid patches) and refuses to allocate.
func (statsFn) ExtractOutput(acc statsAcc) Stats {
	st := Merge(acc.Parts)
	st.Alloc.Hist = alloc.MergeHist(st.Alloc.Hist, acc.Hist)
	return st
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
		st.Alloc.Weighting = p.Alloc.Weighting
		st.Alloc.Merge(p.Alloc)
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
	// Allocation is over valid patches (mean prominence > 1e-6), with the
	// histogram of the allocation weight; see docs/WATERFILL.md.
	Allocation alloc.SummaryFile `json:"allocation"`
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
		Allocation:      st.Alloc.File(),
	}
}
