package outputs

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/bltpipe/bltpipe/transforms/write"
)

// Histogram counts values in equal-width bins over [Lo, Hi); values below
// Lo go to the first bin and values at or above Hi to the last.
type Histogram struct {
	Lo     float64 `json:"lo"`
	Hi     float64 `json:"hi"`
	Counts []int64 `json:"counts"`
	N      int64   `json:"n"`
}

// NewHistogram returns an empty histogram of bins bins over [lo, hi).
func NewHistogram(lo, hi float64, bins int) *Histogram {
	if !(hi > lo) {
		hi = lo + 1
	}
	return &Histogram{Lo: lo, Hi: hi, Counts: make([]int64, bins)}
}

// Add counts v (NaN is ignored).
func (h *Histogram) Add(v float64) {
	if math.IsNaN(v) {
		return
	}
	i := int(float64(len(h.Counts)) * (v - h.Lo) / (h.Hi - h.Lo))
	h.Counts[max(0, min(i, len(h.Counts)-1))]++
	h.N++
}

// Width is the width of one bin.
func (h *Histogram) Width() float64 { return (h.Hi - h.Lo) / float64(len(h.Counts)) }

// Summary is what bltpipe inspect prints: totals, patch lengths and the
// distributions of per-token entropy (nats) and prominence over every token
// of every document (BOS and EOS included, as in _STATS.json).
type Summary struct {
	Dir       string `json:"dir"`
	Documents int64  `json:"documents"`
	Bytes     int64  `json:"bytes"`
	Tokens    int64  `json:"tokens"`
	Patches   int64  `json:"patches"`
	Splits    int64  `json:"splits"`
	// Documents by modality.
	Modalities map[string]int64 `json:"modalities"`
	// Patch lengths in tokens: mean, median and the count of each length.
	MeanPatchTokens   float64         `json:"mean_patch_tokens"`
	MedianPatchTokens float64         `json:"median_patch_tokens"`
	PatchTokens       map[int32]int64 `json:"patch_tokens"`
	// Mean patch length in bytes (BOS/EOS-only patches count as 0 bytes).
	MeanPatchBytes float64    `json:"mean_patch_bytes"`
	Entropy        *Histogram `json:"entropy_nats"`
	Prominence     *Histogram `json:"prominence"`
	// RejectsByStage is nil when the run has no rejects/ table.
	RejectsByStage map[string]int64 `json:"rejects_by_stage,omitempty"`
	Run            write.Run        `json:"run"`
	Timing         *write.Timing    `json:"timing,omitempty"`
	DiskBytes      int64            `json:"disk_bytes"`
}

// EntropyBins and ProminenceBins are the histogram resolutions Summarize uses.
const (
	EntropyBins    = 24
	ProminenceBins = 24
)

// Summarize reads every document of the run once (patches/ is not needed:
// patch lengths are in documents/) and computes the summary.
func (r *Run) Summarize(ctx context.Context) (*Summary, error) {
	s := &Summary{
		Dir: r.Dir, Splits: r.Manifest.Counts.Splits, Modalities: map[string]int64{}, PatchTokens: map[int32]int64{},
		Run: r.Manifest.Run, Timing: r.Timing, DiskBytes: r.DiskBytes(),
	}
	// Entropy bins span the run's range from _STATS.json, else [0, ln V]
	// nats, the range of any model over a vocabulary of V tokens.
	if st := r.Stats; st != nil && st.TokenEntropy.N > 0 && st.TokenEntropy.Max > st.TokenEntropy.Min {
		s.Entropy = NewHistogram(st.TokenEntropy.Min, st.TokenEntropy.Max+1e-6*math.Max(1, math.Abs(st.TokenEntropy.Max)), EntropyBins)
	} else {
		vocab := 0
		if c := r.Manifest.Run.Model.Config; c != nil {
			vocab = c.VocabSize
		}
		if vocab < 2 {
			vocab = 260
		}
		s.Entropy = NewHistogram(0, math.Log(float64(vocab)), EntropyBins)
	}
	lo, hi, err := r.prominenceRange(ctx)
	if err != nil {
		return nil, err
	}
	s.Prominence = NewHistogram(lo, hi, ProminenceBins)
	var patchBytes int64
	err = r.Documents(ctx, DocColumns{Entropies: true, Prominence: true}, func(d Document) error {
		s.Documents++
		s.Bytes += d.NumBytes
		s.Tokens += d.NumTokens
		s.Modalities[d.Modality]++
		s.Patches += int64(len(d.PatchLengths))
		patchBytes += d.NumBytes
		for _, l := range d.PatchLengths {
			s.PatchTokens[l]++
		}
		for _, e := range d.Entropies {
			s.Entropy.Add(float64(e))
		}
		for _, p := range d.Prominence {
			s.Prominence.Add(float64(p))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if s.Patches > 0 {
		s.MeanPatchTokens = float64(s.Tokens) / float64(s.Patches)
		s.MeanPatchBytes = float64(patchBytes) / float64(s.Patches)
		s.MedianPatchTokens = medianOfCounts(s.PatchTokens, s.Patches)
	}
	if s.RejectsByStage, err = r.RejectsByStage(ctx); err != nil {
		return nil, err
	}
	if s.Documents != r.Manifest.Counts.Documents || s.Patches != r.Manifest.Counts.Patches {
		return s, fmt.Errorf("%s: read %d documents and %d patches, the manifest says %d and %d (files changed after the run?)",
			r.Dir, s.Documents, s.Patches, r.Manifest.Counts.Documents, r.Manifest.Counts.Patches)
	}
	return s, nil
}

// prominenceRange is the range of token prominence, from _STATS.json when
// present, else from a first pass over the documents.
func (r *Run) prominenceRange(ctx context.Context) (lo, hi float64, err error) {
	if r.Stats != nil && r.Stats.TokenProminence.N > 0 {
		st := r.Stats.TokenProminence
		return st.Min, st.Max + 1e-6*math.Max(1, math.Abs(st.Max)), nil
	}
	lo, hi = math.Inf(1), math.Inf(-1)
	err = r.Documents(ctx, DocColumns{Prominence: true}, func(d Document) error {
		for _, p := range d.Prominence {
			lo, hi = math.Min(lo, float64(p)), math.Max(hi, float64(p))
		}
		return nil
	})
	if math.IsInf(lo, 1) {
		return 0, 1, err
	}
	return lo, hi + 1e-6*math.Max(1, math.Abs(hi)), err
}

// medianOfCounts returns the median of n values given as value → count.
func medianOfCounts(counts map[int32]int64, n int64) float64 {
	keys := make([]int32, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	at := func(rank int64) int32 { // 0-based rank
		for _, k := range keys {
			if rank < counts[k] {
				return k
			}
			rank -= counts[k]
		}
		return keys[len(keys)-1]
	}
	if n%2 == 1 {
		return float64(at(n / 2))
	}
	return (float64(at(n/2-1)) + float64(at(n/2))) / 2
}
