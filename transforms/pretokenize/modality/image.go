package modality

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"math"

	// Decoders registered with image.Decode.
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"
)

// extractImage decodes PNG, JPEG, GIF (first frame), BMP, TIFF or WebP into
// a "pixels" view (see pixelView). The header's dimensions are checked
// against Limits.MaxPixels before any pixel is decoded.
func extractImage(src *Source, data []byte, o Options) error {
	img, err := decodeImage(data, o.Limits.MaxPixels)
	if err != nil {
		return err
	}
	src.Views = []View{pixelView("pixels", img, o)}
	return nil
}

func decodeImage(data []byte, maxPixels int64) (image.Image, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("read image header: %w", err)
	}
	if err := checkPixels(cfg.Width, cfg.Height, maxPixels); err != nil {
		return nil, fmt.Errorf("%s: %w", format, err)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", format, err)
	}
	if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, fmt.Errorf("decode %s: header says %dx%d, pixels are %dx%d", format, cfg.Width, cfg.Height, b.Dx(), b.Dy())
	}
	return img, nil
}

func checkPixels(w, h int, maxPixels int64) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("image has no pixels (%dx%d)", w, h)
	}
	if n := int64(w) * int64(h); n > maxPixels {
		return fmt.Errorf("image is %dx%d = %d pixels, over the limit of %d (raise Limits.MaxPixels to accept it)", w, h, n, maxPixels)
	}
	return nil
}

// pixelView lays img out patch-major: P×P patches (P = Options.ImagePatch,
// stride P) in raster order, each patch's rows top to bottom, 3 bytes (R,
// G, B; alpha composited over black) per pixel, patches that cross the
// right or bottom edge zero-padded. Data has cols·rows·P·P·3 bytes.
//
// Segments are runs of patches: a patch whose byte-histogram entropy (bits,
// over its P·P·3 bytes, padding included) is below ImageMergeBits joins the
// run before it if that run is also below, and the merged run's own
// entropy stays below. Meta: x, y, width, height (the first patch's pixels
// inside the image), entropy (bits, of the whole segment), patches (count)
// and index (of the first patch).
func pixelView(name string, img image.Image, o Options) View {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	rgba, ok := img.(*image.RGBA)
	if !ok || rgba.Rect.Min != (image.Point{}) {
		rgba = image.NewRGBA(image.Rect(0, 0, w, h))
		draw.Draw(rgba, rgba.Rect, img, b.Min, draw.Src)
	}
	p := o.ImagePatch
	cols, rows := (w+p-1)/p, (h+p-1)/p
	psz := p * p * 3
	data := make([]byte, cols*rows*psz)
	for pr := 0; pr < rows; pr++ {
		for pc := 0; pc < cols; pc++ {
			base := (pr*cols + pc) * psz
			for dy := 0; dy < p; dy++ {
				y := pr*p + dy
				if y >= h {
					break
				}
				row := rgba.Pix[y*rgba.Stride:]
				for dx := 0; dx < p; dx++ {
					x := pc*p + dx
					if x >= w {
						break
					}
					q := base + (dy*p+dx)*3
					copy(data[q:q+3], row[x*4:x*4+3])
				}
			}
		}
	}

	var segs []Segment
	var run [256]int // histogram of the current segment
	runH := math.Inf(1)
	for k := 0; k < cols*rows; k++ {
		var hist [256]int
		for _, c := range data[k*psz : (k+1)*psz] {
			hist[c]++
		}
		ph := entropyBits(&hist, psz)
		if len(segs) > 0 && runH < o.ImageMergeBits && ph < o.ImageMergeBits {
			var merged [256]int
			for i := range merged {
				merged[i] = run[i] + hist[i]
			}
			last := &segs[len(segs)-1]
			if mh := entropyBits(&merged, last.Len()+psz); mh < o.ImageMergeBits {
				run, runH = merged, mh
				last.End += psz
				last.Meta["entropy"] = mh
				last.Meta["patches"] = last.Meta["patches"].(int) + 1
				continue
			}
		}
		pr, pc := k/cols, k%cols
		run, runH = hist, ph
		segs = append(segs, Segment{Label: "patch", Start: k * psz, End: (k + 1) * psz, Meta: map[string]any{
			"x": pc * p, "y": pr * p, "width": min(p, w-pc*p), "height": min(p, h-pr*p),
			"entropy": ph, "patches": 1, "index": k,
		}})
	}
	return View{Name: name, Modality: ModImage, Data: data, Segments: segs, Meta: map[string]any{
		"width": w, "height": h, "patch": p, "cols": cols, "rows": rows,
		"layout": "patch-major RGB", "merge_bits": o.ImageMergeBits,
	}}
}

// entropyBits is the Shannon entropy (bits) of a byte histogram of n bytes.
func entropyBits(hist *[256]int, n int) float64 {
	if n == 0 {
		return 0
	}
	var h float64
	for _, c := range hist {
		if c > 0 {
			q := float64(c) / float64(n)
			h -= q * math.Log2(q)
		}
	}
	return h
}
