package alloc

// Summary is the corpus-wide (or one split's) preparation for allocation:
// counts, moments of the per-patch quantities over valid patches, and the
// histogram of the allocation log-weight. It is a plain value (encodable by
// Beam); build one with an Acc.
type Summary struct {
	Weighting     Weighting
	Invalid       int64   // patches dropped: p ≤ 1e-6 or non-finite p or H
	Prominence    Moments // mean prominence p of valid patches (N = valid count)
	MaxProminence Moments // max prominence
	Entropy       Moments // mean entropy H, nats
	Coherence     Moments // p² / (H + 1e-6)
	LogWeight     Moments // ln w
	Hist          Hist    // histogram of ln w
}

// N is the number of valid patches.
func (s Summary) N() int64 { return s.Prominence.N }

// OutlierThreshold is mean + 1·std of the valid patches' prominence.
func (s Summary) OutlierThreshold() float64 { return s.Prominence.Mean + s.Prominence.Std() }

// MergeMoments folds o's counts and moments into s (not the histogram).
// Moments merge in call order: merge splits in a fixed order.
func (s *Summary) MergeMoments(o Summary) {
	s.Invalid += o.Invalid
	s.Prominence.Merge(o.Prominence)
	s.MaxProminence.Merge(o.MaxProminence)
	s.Entropy.Merge(o.Entropy)
	s.Coherence.Merge(o.Coherence)
	s.LogWeight.Merge(o.LogWeight)
}

// Merge folds o into s: moments in call order, histograms exactly.
func (s *Summary) Merge(o Summary) {
	s.MergeMoments(o)
	s.Hist = MergeHist(s.Hist, o.Hist)
}

// Acc accumulates a Summary patch by patch.
type Acc struct {
	s  Summary
	hb *histBuilder
}

// NewAcc starts an empty summary for a weighting, with the default bin cap.
func NewAcc(w Weighting) *Acc { return NewAccBins(w, DefaultMaxBins) }

// NewAccBins is NewAcc with a given histogram bin cap (≥ 2).
func NewAccBins(w Weighting, maxBins int) *Acc {
	return &Acc{s: Summary{Weighting: w}, hb: newHistBuilder(maxBins)}
}

// Add folds in one patch and reports whether it was valid.
func (a *Acc) Add(p Patch) bool {
	if !p.Valid() {
		a.s.Invalid++
		return false
	}
	l := a.s.Weighting.LogWeight(p)
	a.s.Prominence.Add(float64(p.Prominence))
	a.s.MaxProminence.Add(float64(p.MaxProminence))
	a.s.Entropy.Add(p.entropy())
	a.s.Coherence.Add(p.Coherence())
	a.s.LogWeight.Add(l)
	a.hb.add(l)
	return true
}

// Summary returns what was accumulated so far.
func (a *Acc) Summary() Summary {
	s := a.s
	s.Hist = a.hb.freeze()
	return s
}
