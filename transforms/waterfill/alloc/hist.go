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

// Hist is a frozen, mergeable histogram: Keys ascending, Counts > 0, and
// the smallest and largest log-weight counted in each bin (exact, so they
// merge without regard to order). Min and Max let Rank interpolate over
// the occupied part of a bin and recognise a bin of tied weights.
type Hist struct {
	Level   int32
	MaxBins int32
	Keys    []int64
	Counts  []int64
	Min     []float64
	Max     []float64
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

// bin is one bin while building.
type bin struct {
	n        int64
	min, max float64
}

func (b bin) merge(o bin) bin {
	return bin{n: b.n + o.n, min: math.Min(b.min, o.min), max: math.Max(b.max, o.max)}
}

// histBuilder accumulates a histogram; freeze it to encode or merge.
type histBuilder struct {
	level   int32
	maxBins int
	m       map[int64]bin
}

func newHistBuilder(maxBins int) *histBuilder {
	if maxBins < 2 {
		maxBins = 2
	}
	return &histBuilder{maxBins: maxBins, m: map[int64]bin{}}
}

func (b *histBuilder) add(l float64) {
	k, _ := binKey(l, b.level)
	if old, ok := b.m[k]; ok {
		b.m[k] = old.merge(bin{1, l, l})
	} else {
		b.m[k] = bin{1, l, l}
	}
	for len(b.m) > b.maxBins {
		c := make(map[int64]bin, len(b.m)/2+1)
		for k, x := range b.m {
			if old, ok := c[k>>1]; ok {
				c[k>>1] = old.merge(x)
			} else {
				c[k>>1] = x
			}
		}
		b.m = c
		b.level++
	}
}

func (b *histBuilder) freeze() Hist {
	n := len(b.m)
	h := Hist{Level: b.level, MaxBins: int32(b.maxBins), Keys: make([]int64, 0, n), Counts: make([]int64, n), Min: make([]float64, n), Max: make([]float64, n)}
	for k := range b.m {
		h.Keys = append(h.Keys, k)
	}
	slices.Sort(h.Keys)
	for i, k := range h.Keys {
		x := b.m[k]
		h.Counts[i], h.Min[i], h.Max[i] = x.n, x.min, x.max
	}
	return h
}

func (h Hist) bin(i int) bin { return bin{h.Counts[i], h.Min[i], h.Max[i]} }

func (h *Hist) push(k int64, x bin) {
	if n := len(h.Keys); n > 0 && h.Keys[n-1] == k {
		m := h.bin(n - 1).merge(x)
		h.Counts[n-1], h.Min[n-1], h.Max[n-1] = m.n, m.min, m.max
		return
	}
	h.Keys = append(h.Keys, k)
	h.Counts = append(h.Counts, x.n)
	h.Min = append(h.Min, x.min)
	h.Max = append(h.Max, x.max)
}

func (h Hist) empty(level int32, maxBins int32, capacity int) Hist {
	return Hist{Level: level, MaxBins: maxBins, Keys: make([]int64, 0, capacity), Counts: make([]int64, 0, capacity),
		Min: make([]float64, 0, capacity), Max: make([]float64, 0, capacity)}
}

// coarsen returns h at a higher level (keys shifted, equal keys summed).
func (h Hist) coarsen(level int32) Hist {
	if level <= h.Level {
		return h
	}
	s := uint(level - h.Level)
	out := h.empty(level, h.MaxBins, len(h.Keys))
	for i, k := range h.Keys {
		out.push(k>>s, h.bin(i))
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
	out := a.empty(level, min(a.MaxBins, b.MaxBins), len(a.Keys)+len(b.Keys))
	i, j := 0, 0
	for i < len(a.Keys) || j < len(b.Keys) {
		if j == len(b.Keys) || (i < len(a.Keys) && a.Keys[i] <= b.Keys[j]) {
			out.push(a.Keys[i], a.bin(i))
			i++
		} else {
			out.push(b.Keys[j], b.bin(j))
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
	h.Min = slices.Clone(h.Min)
	h.Max = slices.Clone(h.Max)
	return h
}

// Encode renders the bins for _STATS.json as "key:count" pairs separated
// by commas, keys ascending; bin k covers ℓ ∈ [k·δ, (k+1)·δ). The bins'
// min and max are left out (the pipeline passes them in memory).
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

// DecodeHist parses Encode's output (keys and counts; Min and Max are
// set to the bins' edges).
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
		lo := math.Ldexp(float64(k), int(level)-FineBits)
		h.Min, h.Max = append(h.Min, lo), append(h.Max, lo+h.Width())
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
// histogram: the number of values ordered before it, interpolating
// linearly over the occupied span [min, max] of its bin. In bin k holding
// c values,
//
//	rank(ℓ) = below(k) + (c−1)·(ℓ − min)/(max − min)   if max > min
//	rank(ℓ) = below(k) + (c−1)·tie                     if max = min
//
// where tie ∈ [0,1) orders tied values (TieFraction of the patch's
// identity): a bin whose values are all equal spreads them evenly instead
// of stacking them on one rank. Rank is non-decreasing in ℓ, lies in
// [0, N−1], and is off from the exact rank by less than c. A value in an
// empty bin gets below(k).
func (ri *RankIndex) Rank(l, tie float64) float64 {
	k, _ := binKey(l, ri.h.Level)
	i := sort.Search(len(ri.h.Keys), func(i int) bool { return ri.h.Keys[i] >= k })
	if i == len(ri.h.Keys) {
		return float64(ri.n)
	}
	if ri.h.Keys[i] != k {
		return float64(ri.below[i])
	}
	lo, hi := ri.h.Min[i], ri.h.Max[i]
	u := tie
	if hi > lo {
		u = min(max((l-lo)/(hi-lo), 0), 1)
	}
	return float64(ri.below[i]) + float64(ri.h.Counts[i]-1)*u
}

// TieFraction maps a PatchID to [0, 1): the order of patches of equal
// weight in histogram ranks.
func TieFraction(id uint64) float64 { return float64(id>>11) / (1 << 53) }
