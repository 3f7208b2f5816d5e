package write

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/bltpipe/bltpipe/transforms/record"
)

// TestLeafSpillRoundTrip: leaves read back exactly as added, across
// documents with and without means, patches under segments, offsets that
// do not tile, and a document without patches.
func TestLeafSpillRoundTrip(t *testing.T) {
	s, err := newLeafSpill(filepath.Join(t.TempDir(), "leaves.spill"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	nan := float32(math.NaN())
	type doc struct {
		first, branch int64
		parents       []int64
		patches       []record.Patch
	}
	docs := []doc{
		{first: 3, branch: 1, parents: []int64{1, 2, 2, 1}, patches: []record.Patch{
			{ByteOffset: 0, ByteLength: 0, MeanEntropy: 1.5, MeanProminence: 40},
			{ByteOffset: 0, ByteLength: 4, MeanEntropy: nan, MeanProminence: 3e38},
			{ByteOffset: 4, ByteLength: 300, MeanEntropy: -0, MeanProminence: 1e-40},
			{ByteOffset: 1 << 40, ByteLength: 0, MeanEntropy: 0.25, MeanProminence: 7}, // far past the previous end
		}},
		{first: 8, branch: 7, parents: nil, patches: nil},
		{first: 9, branch: 8, parents: []int64{8, 8}, patches: []record.Patch{
			{ByteOffset: 0, ByteLength: 4, MeanEntropy: nan, MeanProminence: nan},
			{ByteOffset: 2, ByteLength: 4, MeanEntropy: nan, MeanProminence: nan}, // overlaps: offset goes back
		}},
	}
	var want []leaf
	for _, d := range docs {
		if err := s.add(d.first, d.branch, d.parents, d.patches); err != nil {
			t.Fatal(err)
		}
		for i, p := range d.patches {
			want = append(want, leaf{id: d.first + int64(i), branch: d.branch, parent: d.parents[i], index: i,
				byteOffset: p.ByteOffset, byteLength: p.ByteLength, meanEntropy: p.MeanEntropy, prominence: p.MeanProminence})
		}
	}
	var got []leaf
	if err := s.each(func(l leaf) error { got = append(got, l); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d leaves, want %d", len(got), len(want))
	}
	same := func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }
	for i := range want {
		g, w := got[i], want[i]
		if g.id != w.id || g.branch != w.branch || g.parent != w.parent || g.index != w.index ||
			g.byteOffset != w.byteOffset || g.byteLength != w.byteLength || !same(g.meanEntropy, w.meanEntropy) || !same(g.prominence, w.prominence) {
			t.Errorf("leaf %d: got %+v, want %+v", i, g, w)
		}
	}
	if err := s.add(20, 19, []int64{18}, []record.Patch{{}}); err == nil {
		t.Error("a parent before its branch was spilled without an error")
	}
}
