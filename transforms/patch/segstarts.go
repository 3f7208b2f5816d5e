package patch

import "github.com/bltpipe/bltpipe/transforms/record"

// SegmentStartTokens returns the first token of every non-empty segment of
// d (Origin.Segments), in order: byte offset + 1, since token 0 is BOS.
func SegmentStartTokens(d record.Document) []int64 {
	var out []int64
	for _, s := range d.Origin.Segments {
		if s.End > s.Start {
			out = append(out, s.Start+1)
		}
	}
	return out
}

// ForceStarts splits patches so that every token in starts (ascending, each
// in [0, sum(lengths))) begins a patch; patches are only ever cut, never
// merged, so limits such as the maximum patch length still hold. lengths
// are patch lengths in tokens; the result sums to the same total.
func ForceStarts(lengths []int32, starts []int64) []int32 {
	if len(starts) == 0 {
		return lengths
	}
	out := make([]int32, 0, len(lengths)+len(starts))
	var pos int64 // first token of the current patch
	j := 0
	for _, l := range lengths {
		end := pos + int64(l)
		for j < len(starts) && starts[j] <= pos {
			j++ // already a patch start, or behind us
		}
		for ; j < len(starts) && starts[j] < end; j++ {
			if starts[j] > pos {
				out = append(out, int32(starts[j]-pos))
				pos = starts[j]
			}
		}
		out = append(out, int32(end-pos))
		pos = end
	}
	return out
}
