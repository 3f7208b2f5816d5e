package modality

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// testImage is w×h: a flat grey left half (low entropy) and a noisy right
// half (high entropy).
func testImage(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	seed := uint32(1)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{100, 100, 100, 255}
			if x >= w/2 {
				seed = seed*1664525 + 1013904223
				c = color.RGBA{byte(seed >> 24), byte(seed >> 16), byte(seed >> 8), 255}
			}
			img.Set(x, y, c)
		}
	}
	return img
}

func encode(t *testing.T, format string, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&buf, img)
	case "jpeg":
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
	case "gif":
		err = gif.Encode(&buf, img, nil)
	case "bmp":
		err = bmp.Encode(&buf, img)
	case "tiff":
		err = tiff.Encode(&buf, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// unpatch rebuilds the w×h RGB image from a patch-major view and checks
// the padding is zero.
func unpatch(t *testing.T, v View) (w, h int, rgb []byte) {
	t.Helper()
	w, h, p := v.Meta["width"].(int), v.Meta["height"].(int), v.Meta["patch"].(int)
	cols, rows := (w+p-1)/p, (h+p-1)/p
	if len(v.Data) != cols*rows*p*p*3 {
		t.Fatalf("view has %d bytes, want %d", len(v.Data), cols*rows*p*p*3)
	}
	rgb = make([]byte, w*h*3)
	for k := 0; k < cols*rows; k++ {
		for dy := 0; dy < p; dy++ {
			for dx := 0; dx < p; dx++ {
				x, y := k%cols*p+dx, k/cols*p+dy
				q := v.Data[(k*p*p+dy*p+dx)*3:][:3]
				if x >= w || y >= h {
					if q[0]|q[1]|q[2] != 0 {
						t.Fatalf("padding at (%d,%d) not zero", x, y)
					}
					continue
				}
				copy(rgb[(y*w+x)*3:], q)
			}
		}
	}
	return w, h, rgb
}

func TestImageFormats(t *testing.T) {
	const w, h = 37, 21 // not multiples of the patch
	want := testImage(w, h)
	for _, format := range []string{"png", "jpeg", "gif", "bmp", "tiff"} {
		t.Run(format, func(t *testing.T) {
			data := encode(t, format, want)
			src := mustExtract(t, "", data, Options{})
			if src.Kind != format {
				t.Fatalf("kind %s", src.Kind)
			}
			v := view(t, src, "pixels")
			checkCover(t, v) // patches (merged or not) tile the patch-major data
			gw, gh, rgb := unpatch(t, v)
			if gw != w || gh != h {
				t.Fatalf("size %dx%d", gw, gh)
			}
			// Every decoded pixel is covered, by exactly one patch: the
			// patch counts add up to the grid and the valid areas to w·h.
			patches := 0
			for _, s := range v.Segments {
				patches += s.Meta["patches"].(int)
			}
			if patches != 3*2 {
				t.Errorf("%d patches, want 6", patches)
			}
			// Lossless formats round-trip exactly.
			if format == "png" || format == "bmp" || format == "tiff" {
				for y := 0; y < h; y++ {
					for x := 0; x < w; x++ {
						c := want.RGBAAt(x, y)
						if got := rgb[(y*w+x)*3:][:3]; got[0] != c.R || got[1] != c.G || got[2] != c.B {
							t.Fatalf("pixel (%d,%d) = %v, want %v", x, y, got, c)
						}
					}
				}
			}
		})
	}
}

func TestImageWebP(t *testing.T) {
	src := mustExtract(t, "tiny.webp", fixture(t, "tiny.webp"), Options{ImagePatch: 8})
	v := view(t, src, "pixels")
	checkCover(t, v)
	if w, h, _ := unpatch(t, v); w != 40 || h != 30 {
		t.Errorf("webp %dx%d, want 40x30", w, h)
	}
}

// A flat image merges into one segment; merging stops where the merged
// entropy would reach the threshold; a negative threshold disables it.
func TestImageMerge(t *testing.T) {
	flat := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for i := range flat.Pix {
		flat.Pix[i] = 7
	}
	v := view(t, mustExtract(t, "", encode(t, "png", flat), Options{}), "pixels")
	if len(v.Segments) != 1 || v.Segments[0].Meta["patches"] != 16 || v.Segments[0].Meta["entropy"].(float64) != 0 {
		t.Errorf("flat image: %d segments, first %v", len(v.Segments), v.Segments[0].Meta)
	}
	v = view(t, mustExtract(t, "", encode(t, "png", flat), Options{ImageMergeBits: -1}), "pixels")
	if len(v.Segments) != 16 {
		t.Errorf("merging off: %d segments, want 16", len(v.Segments))
	}
	// Half flat, half noise: noise patches stay alone, every segment's own
	// entropy is under the threshold when merged.
	v = view(t, mustExtract(t, "", encode(t, "png", testImage(64, 64)), Options{}), "pixels")
	checkCover(t, v)
	for _, s := range v.Segments {
		var hist [256]int
		for _, c := range v.Data[s.Start:s.End] {
			hist[c]++
		}
		e := entropyBits(&hist, s.Len())
		if e != s.Meta["entropy"].(float64) {
			t.Errorf("segment %v: entropy meta %v, recomputed %v", s.Meta["index"], s.Meta["entropy"], e)
		}
		if s.Meta["patches"].(int) > 1 && e >= 1.5 {
			t.Errorf("merged segment with entropy %v", e)
		}
		if x := s.Meta["x"].(int); x >= 32 && s.Meta["patches"].(int) > 1 {
			t.Errorf("noise patch at x=%d merged", x)
		}
	}
}

// The header's size is checked before decoding: a huge declared PNG is
// rejected without allocating its pixels.
func TestImagePixelLimit(t *testing.T) {
	data := encode(t, "png", testImage(64, 64))
	err := mustReject(t, "", data, Options{Limits: Limits{MaxPixels: 64*64 - 1}})
	if !strings.Contains(err.Error(), "MaxPixels") {
		t.Errorf("error %v does not name the limit", err)
	}
	// A PNG header claiming 100000×100000 with no pixel data.
	bomb := append([]byte{}, data[:33]...)
	bomb[16], bomb[17], bomb[18], bomb[19] = 0, 1, 0x86, 0xa0
	bomb[20], bomb[21], bomb[22], bomb[23] = 0, 1, 0x86, 0xa0
	binary.BigEndian.PutUint32(bomb[29:], crc32.ChecksumIEEE(bomb[12:29]))
	if err := mustReject(t, "", bomb, Options{}); !strings.Contains(err.Error(), "pixels") {
		t.Errorf("bomb header: %v", err)
	}
}
