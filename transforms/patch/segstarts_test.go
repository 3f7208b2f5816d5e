package patch

import (
	"fmt"
	"testing"

	"github.com/bltpipe/bltpipe/transforms/record"
)

func TestForceStarts(t *testing.T) {
	for _, tc := range []struct {
		lengths []int32
		starts  []int64
		want    []int32
	}{
		{[]int32{1, 4, 3}, nil, []int32{1, 4, 3}},
		{[]int32{1, 4, 3}, []int64{1, 5}, []int32{1, 4, 3}},          // already starts
		{[]int32{1, 4, 3}, []int64{3}, []int32{1, 2, 2, 3}},          // cut inside patch 1
		{[]int32{8}, []int64{1, 2, 6}, []int32{1, 1, 4, 2}},          // several cuts in one patch
		{[]int32{2, 6}, []int64{0, 1, 4, 7}, []int32{1, 1, 2, 3, 1}}, // BOS and a start at the last token
		{[]int32{3, 3}, []int64{2, 2, 5}, []int32{2, 1, 2, 1}},       // repeated start
	} {
		got := ForceStarts(tc.lengths, tc.starts)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("ForceStarts(%v, %v) = %v, want %v", tc.lengths, tc.starts, got, tc.want)
		}
	}
	d := record.Document{Origin: record.Origin{Segments: []record.Span{{Start: 0, End: 3}, {Start: 3, End: 3}, {Start: 3, End: 9}}}}
	if got := SegmentStartTokens(d); fmt.Sprint(got) != "[1 4]" {
		t.Errorf("SegmentStartTokens = %v, want [1 4] (token = byte + 1; empty segments have no first token)", got)
	}
}
