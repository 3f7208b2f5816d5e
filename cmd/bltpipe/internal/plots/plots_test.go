package plots

import (
	"bytes"
	"image"
	"image/png"
	"math"
	"strings"
	"testing"

	"github.com/bltpipe/bltpipe/pipelines/outputs"
	"github.com/bltpipe/bltpipe/transforms/waterfill/sphere"
	"github.com/bltpipe/bltpipe/transforms/write"
)

// syntheticDoc is a document of n bytes with a sawtooth entropy, so the
// threshold 2.5 starts a patch every 5 bytes.
func syntheticDoc(n int) outputs.Document {
	d := outputs.Document{ID: "doc", NumBytes: int64(n), NumTokens: int64(n + 2)}
	for i := 0; i < n+2; i++ {
		d.Entropies = append(d.Entropies, float32(i%5))
		d.Prominence = append(d.Prominence, float32(10+math.Sin(float64(i))))
	}
	d.PatchLengths = []int32{1, int32(n + 1)}
	return d
}

// decode checks the PNG's size and that it is a picture, not a blank: many
// distinct colours, and the plot's blue, orange and red all present.
func decode(t *testing.T, b []byte, minW, minH int) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	r := img.Bounds()
	if r.Dx() < minW || r.Dy() < minH {
		t.Fatalf("PNG is %dx%d, want at least %dx%d", r.Dx(), r.Dy(), minW, minH)
	}
	colours := map[[3]uint32]int{}
	for y := r.Min.Y; y < r.Max.Y; y += 2 {
		for x := r.Min.X; x < r.Max.X; x += 2 {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			colours[[3]uint32{cr >> 8, cg >> 8, cb >> 8}]++
		}
	}
	if len(colours) < 20 {
		t.Errorf("PNG has %d distinct colours: blank or nearly", len(colours))
	}
	white := colours[[3]uint32{255, 255, 255}]
	total := (r.Dx() / 2) * (r.Dy() / 2)
	if white == total || white < total/4 {
		t.Errorf("%d of %d sampled pixels white", white, total)
	}
	return img
}

// countColour counts the pixels within a small distance of a colour (lines
// are antialiased, so a thin one may have no pixel of its exact colour).
func countColour(img image.Image, want [3]uint32) int {
	n := 0
	r := img.Bounds()
	d := func(a, b uint32) int { return int(a) - int(b) }
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			dr, dg, db := d(cr>>8, want[0]), d(cg>>8, want[1]), d(cb>>8, want[2])
			if dr*dr+dg*dg+db*db <= 24*24 {
				n++
			}
		}
	}
	return n
}

func TestDocumentFigure(t *testing.T) {
	text := []byte(strings.Repeat("the byte latent transformer\n", 6))
	d := syntheticDoc(len(text))
	var buf bytes.Buffer
	if err := Document(&buf, d, text, DocOptions{MaxBytes: 60, Threshold: 2.5, ShowThreshold: true, Caption: "entropy"}); err != nil {
		t.Fatal(err)
	}
	img := decode(t, buf.Bytes(), 700, 500)
	for name, c := range map[string][3]uint32{"blue entropy": {0x1f, 0x77, 0xb4}, "orange prominence": {0xff, 0x7f, 0x0e}, "red threshold": {0xd6, 0x27, 0x28}} {
		if countColour(img, c) < 50 {
			t.Errorf("%s: fewer than 50 pixels", name)
		}
	}
	// Without a threshold the red line is gone: the figure follows the data.
	buf.Reset()
	if err := Document(&buf, d, nil, DocOptions{MaxBytes: 60}); err != nil {
		t.Fatal(err)
	}
	if n := countColour(decode(t, buf.Bytes(), 700, 500), [3]uint32{0xd6, 0x27, 0x28}); n > 0 {
		t.Errorf("%d red pixels without a threshold", n)
	}
	// A longer shown prefix makes a wider figure.
	long := []byte(strings.Repeat("entropy patches ", 40))
	buf.Reset()
	if err := Document(&buf, syntheticDoc(len(long)), long, DocOptions{MaxBytes: 300}); err != nil {
		t.Fatal(err)
	}
	if w := decode(t, buf.Bytes(), 0, 0).Bounds().Dx(); w < int(0.13*300*DPI) {
		t.Errorf("300 bytes drawn %d pixels wide", w)
	}
}

func TestDocumentErrors(t *testing.T) {
	d := syntheticDoc(10)
	for _, tc := range []struct {
		name string
		d    outputs.Document
		text []byte
	}{
		{"short text", d, []byte("abc")},
		{"entropies", outputs.Document{ID: "x", NumBytes: 10, Entropies: d.Entropies[:5], Prominence: d.Prominence}, nil},
		{"empty", outputs.Document{ID: "x", NumBytes: 0, Entropies: []float32{1, 2}, Prominence: []float32{1, 2}}, nil},
	} {
		if err := Document(&bytes.Buffer{}, tc.d, tc.text, DocOptions{}); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestByteLabels(t *testing.T) {
	got := ByteLabels([]byte("a b\né\x01\xff"))
	want := []string{"a", "·", "b", `\n`, "é", "", "01", "ff"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("ByteLabels = %q, want %q", got, want)
	}
}

func TestHistogramsAndOccupancy(t *testing.T) {
	s := &outputs.Summary{
		Entropy: outputs.NewHistogram(0, 5.56, 24), Prominence: outputs.NewHistogram(5, 15, 24),
		PatchTokens: map[int32]int64{1: 10, 2: 30, 3: 20, 4: 12, 9: 1}, Patches: 73, MeanPatchTokens: 2.7, MedianPatchTokens: 2,
		Run: write.Run{Patcher: write.Patcher{Mode: "entropy", Threshold: 3}},
	}
	for i := 0; i < 1000; i++ {
		s.Entropy.Add(5.56 * float64(i%97) / 97)
		s.Prominence.Add(10 + 4*math.Sin(float64(i)))
	}
	var buf bytes.Buffer
	if err := Histograms(&buf, s); err != nil {
		t.Fatal(err)
	}
	img := decode(t, buf.Bytes(), 1200, 350)
	if countColour(img, [3]uint32{0x1f, 0x77, 0xb4}) < 2000 || countColour(img, [3]uint32{0xff, 0x7f, 0x0e}) < 1000 {
		t.Error("histogram bars missing")
	}
	h := PatchLengthHistogram(s.PatchTokens)
	if len(h.Counts) != 9 || h.Counts[1] != 30 || h.Counts[8] != 1 || h.N != 73 {
		t.Errorf("patch length bins %v", h.Counts)
	}

	f := &sphere.File{Method: "rank", Patches: 100, Shells: 4, Table: []sphere.Shell{{K: 0, Capacity: 10, Count: 9}, {K: 1, Capacity: 20, Count: 22}, {K: 2, Capacity: 30, Count: 30}, {K: 3, Capacity: 40, Count: 39}}}
	buf.Reset()
	if err := Occupancy(&buf, f); err != nil {
		t.Fatal(err)
	}
	decode(t, buf.Bytes(), 600, 350)
	if err := Occupancy(&buf, &sphere.File{}); err == nil {
		t.Error("empty shell table drawn")
	}
}
