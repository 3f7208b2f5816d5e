package alloc

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Histogram of log-weights.
//
// Bins are uniform in ℓ = ln w, i.e. log-spaced in w. At level L a bin is
// [k·δ, (k+1)·δ) with δ = 2^(L−FineBits) nats and key k = ⌊ℓ/δ⌋. Level 0
// is the finest (δ ≈ 9.5e-7, a relative width of about 1e-6 in w); a
// histogram holding more than its MaxBins occupied bins moves up one level
// (δ doubles, keys k → k>>1, an exact coarsening) until it fits. The level
// reached is the smallest at which the whole multiset of values fits, so
// the histogram is a function of the multiset alone: the same whatever the
// order of adds and merges, on any runner.

// FineBits sets the finest bin width, 2^−FineBits nats.
const FineBits = 20

// DefaultMaxBins caps the occupied bins (memory: 16 bytes a bin frozen,
// about 3× that while building). See docs/WATERFILL.md for the error bound.
const DefaultMaxBins = 1 << 18

// Hist is a frozen, mergeable histogram: Keys ascending, Counts > 0.
type Hist struct {
	Level   int32
	MaxBins int32
	Keys    []int64
	Counts  []int64
}

// Width is the bin width in nats of log-weight.
func (h Hist) Width() float64 { return math.Ldexp(1, int(h.Level)-FineBits) }

// Total is the number of values counted.
func (h Hist) Total() int64 {
	var n int64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// MaxCount is the largest bin count: no histogram rank is further than
// this from the exact rank.
func (h Hist) MaxCount() int64 {
	var m int64
	for _, c := range h.Counts {
		m = max(m, c)
	}
	return m
}

// scaled returns ℓ/δ at a level (exact: δ is a power of two).
func scaled(l float64, level int32) float64 {
	return math.Ldexp(l, FineBits-int(level))
}

// binKey returns ⌊ℓ/δ⌋ at a level and the position u = ℓ/δ − key ∈ [0, 1).
func binKey(l float64, level int32) (int64, float64) {
	x := scaled(l, level)
	f := math.Floor(x)
	return int64(f), x - f
}

// histBuilder accumulates a histogram; freeze it to encode or merge.
type histBuilder struct {
	level   int32
	maxBins int
	m       map[int64]int64
}

func newHistBuilder(maxBins int) *histBuilder {
	if maxBins < 2 {
		maxBins = 2
	}
	return &histBuilder{maxBins: maxBins, m: map[int64]int64{}}
}

func (b *histBuilder) add(l float64) {
	k, _ := binKey(l, b.level)
	b.m[k]++
	for len(b.m) > b.maxBins {
		c := make(map[int64]int64, len(b.m)/2+1)
		for k, n := range b.m {
			c[k>>1] += n
		}
		b.m = c
		b.level++
	}
}

func (b *histBuilder) freeze() Hist {
	h := Hist{Level: b.level, MaxBins: int32(b.maxBins), Keys: make([]int64, 0, len(b.m)), Counts: make([]int64, len(b.m))}
	for k := range b.m {
		h.Keys = append(h.Keys, k)
	}
	slices.Sort(h.Keys)
	for i, k := range h.Keys {
		h.Counts[i] = b.m[k]
	}
	return h
}

// coarsen returns h at a higher level (keys shifted, equal keys summed).
func (h Hist) coarsen(level int32) Hist {
	if level <= h.Level {
		return h
	}
	s := uint(level - h.Level)
	out := Hist{Level: level, MaxBins: h.MaxBins, Keys: make([]int64, 0, len(h.Keys)), Counts: make([]int64, 0, len(h.Keys))}
	for i, k := range h.Keys {
		k >>= s
		if n := len(out.Keys); n > 0 && out.Keys[n-1] == k {
			out.Counts[n-1] += h.Counts[i]
			continue
		}
		out.Keys = append(out.Keys, k)
		out.Counts = append(out.Counts, h.Counts[i])
	}
	return out
}

// MergeHist returns the histogram of both multisets. Empty histograms (the
// zero Hist) are neutral. The bin cap is the smaller of the two.
func MergeHist(a, b Hist) Hist {
	if len(a.Keys) == 0 {
		return b.clone()
	}
	if len(b.Keys) == 0 {
		return a.clone()
	}
	level := max(a.Level, b.Level)
	a, b = a.coarsen(level), b.coarsen(level)
	out := Hist{Level: level, MaxBins: min(a.MaxBins, b.MaxBins), Keys: make([]int64, 0, len(a.Keys)+len(b.Keys)), Counts: make([]int64, 0, len(a.Keys)+len(b.Keys))}
	i, j := 0, 0
	for i < len(a.Keys) || j < len(b.Keys) {
		switch {
		case j == len(b.Keys) || (i < len(a.Keys) && a.Keys[i] < b.Keys[j]):
			out.Keys, out.Counts = append(out.Keys, a.Keys[i]), append(out.Counts, a.Counts[i])
			i++
		case i == len(a.Keys) || b.Keys[j] < a.Keys[i]:
			out.Keys, out.Counts = append(out.Keys, b.Keys[j]), append(out.Counts, b.Counts[j])
			j++
		default:
			out.Keys, out.Counts = append(out.Keys, a.Keys[i]), append(out.Counts, a.Counts[i]+b.Counts[j])
			i++
			j++
		}
	}
	for len(out.Keys) > int(max(out.MaxBins, 2)) {
		out = out.coarsen(out.Level + 1)
	}
	return out
}

func (h Hist) clone() Hist {
	h.Keys = slices.Clone(h.Keys)
	h.Counts = slices.Clone(h.Counts)
	return h
}

// Encode renders the bins for _STATS.json as "key:count" pairs separated
// by commas, keys ascending; bin k covers ℓ ∈ [k·δ, (k+1)·δ).
func (h Hist) Encode() string {
	var sb strings.Builder
	sb.Grow(len(h.Keys) * 12)
	for i, k := range h.Keys {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.FormatInt(k, 10))
		sb.WriteByte(':')
		sb.WriteString(strconv.FormatInt(h.Counts[i], 10))
	}
	return sb.String()
}

// DecodeHist parses Encode's output.
func DecodeHist(level, maxBins int32, s string) (Hist, error) {
	h := Hist{Level: level, MaxBins: maxBins}
	if s == "" {
		return h, nil
	}
	for _, kv := range strings.Split(s, ",") {
		ks, cs, ok := strings.Cut(kv, ":")
		k, err1 := strconv.ParseInt(ks, 10, 64)
		c, err2 := strconv.ParseInt(cs, 10, 64)
		if !ok || err1 != nil || err2 != nil || c <= 0 || (len(h.Keys) > 0 && k <= h.Keys[len(h.Keys)-1]) {
			return Hist{}, fmt.Errorf("histogram bin %q: want ascending key:count with count > 0", kv)
		}
		h.Keys, h.Counts = append(h.Keys, k), append(h.Counts, c)
	}
	return h, nil
}

// RankIndex answers interpolated rank queries against a histogram.
type RankIndex struct {
	h     Hist
	below []int64 // below[i]: values in bins before bin i
	n     int64
}

// Index prepares h for Rank queries (O(bins) memory).
func (h Hist) Index() *RankIndex {
	ri := &RankIndex{h: h, below: make([]int64, len(h.Keys))}
	for i, c := range h.Counts {
		ri.below[i] = ri.n
		ri.n += c
	}
	return ri
}

// N is the number of values in the histogram.
func (ri *RankIndex) N() int64 { return ri.n }

// Rank estimates the 0-based rank of a value ℓ that was counted in the
// histogram: the number of values below it, interpolating linearly inside
// its bin. In bin k holding c values, at position u ∈ [0,1) of the bin,
//
//	rank(ℓ) = below(k) + (c−1)·u
//
// (the other c−1 values of the bin taken as spread uniformly). Rank is
// non-decreasing in ℓ, lies in [0, N−1], and is off from the exact rank by
// less than c. A value in an empty bin gets below(k).
func (ri *RankIndex) Rank(l float64) float64 {
	k, u := binKey(l, ri.h.Level)
	i := sort.Search(len(ri.h.Keys), func(i int) bool { return ri.h.Keys[i] >= k })
	if i == len(ri.h.Keys) {
		return float64(ri.n)
	}
	if ri.h.Keys[i] != k {
		return float64(ri.below[i])
	}
	return float64(ri.below[i]) + float64(ri.h.Counts[i]-1)*u
}
