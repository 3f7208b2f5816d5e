package modality

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"image"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/ledongthuc/pdf"
)

// extractPDF reads a PDF with ledongthuc/pdf (pure Go). Views by
// Options.PDFMode:
//   - PDFText: "text", the text of each page (lines from the text rows
//     the library finds, each page ending in "\n"), one "page" segment per
//     page (meta page, from 1). A PDF without text is rejected.
//   - PDFRaw: "raw", the file's bytes, an "object" segment per
//     "N G obj … endobj" (meta num, gen) and "gap"s between.
//   - PDFMultiview: "raw", "text" (if any) and an "image:<k>" pixels view
//     per distinct embedded image (JPEG streams, and Flate-coded 8-bit
//     DeviceRGB/DeviceGray images), k from 0 in file order. The views of
//     one Source are one trunk (same_source edges).
func extractPDF(src *Source, data []byte, o Options) error {
	switch o.PDFMode {
	case PDFText, PDFRaw, PDFMultiview:
	default:
		return fmt.Errorf("unknown PDF mode %q (want %q, %q or %q)", o.PDFMode, PDFText, PDFRaw, PDFMultiview)
	}
	r, err := openPDF(data)
	if err != nil {
		return err
	}
	if o.PDFMode == PDFRaw {
		v, err := pdfRawView(data, o)
		if err != nil {
			return err
		}
		src.Views = []View{v}
		return nil
	}
	text, err := pdfTextView(r)
	if err != nil {
		return err
	}
	if o.PDFMode == PDFText {
		if len(bytes.TrimSpace(text.Data)) == 0 {
			return errors.New("PDF has no extractable text (scanned? try the multiview mode for its images)")
		}
		src.Views = []View{text}
		return nil
	}
	raw, err := pdfRawView(data, o)
	if err != nil {
		return err
	}
	src.Views = []View{raw}
	if len(bytes.TrimSpace(text.Data)) > 0 {
		src.Views = append(src.Views, text)
	}
	imgs, err := pdfImages(r, data, o)
	if err != nil {
		return err
	}
	src.Views = append(src.Views, imgs...)
	return nil
}

// openPDF opens data, turning the library's panics into errors.
func openPDF(data []byte) (r *pdf.Reader, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("read PDF: %v", p)
		}
	}()
	r, err = pdf.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("read PDF: %w", err)
	}
	if r.NumPage() == 0 {
		return nil, errors.New("PDF has no pages")
	}
	return r, nil
}

func pdfTextView(r *pdf.Reader) (v View, err error) {
	v = View{Name: "text", Modality: ModText}
	var buf bytes.Buffer
	for i := 1; i <= r.NumPage(); i++ {
		txt, err := pageText(r.Page(i))
		if err != nil {
			return View{}, fmt.Errorf("text of page %d: %w", i, err)
		}
		start := buf.Len()
		buf.WriteString(txt)
		if !strings.HasSuffix(txt, "\n") {
			buf.WriteByte('\n')
		}
		v.Segments = append(v.Segments, Segment{Label: "page", Start: start, End: buf.Len(), Meta: map[string]any{"page": i}})
	}
	v.Data = bytes.ToValidUTF8(buf.Bytes(), []byte("\uFFFD"))
	if len(v.Data) != buf.Len() {
		// Replacement changed lengths: fall back to one segment.
		v.Segments = []Segment{{Label: "page", Start: 0, End: len(v.Data), Meta: map[string]any{"page": 1}}}
	}
	return v, nil
}

// pageText joins the page's text rows (top to bottom) with newlines and the
// words of a row with the spacing the library found.
func pageText(p pdf.Page) (s string, err error) {
	defer func() {
		if e := recover(); e != nil {
			err = fmt.Errorf("%v", e)
		}
	}()
	if p.V.IsNull() {
		return "", nil
	}
	rows, err := p.GetTextByRow()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, row := range rows {
		for _, w := range row.Content {
			b.WriteString(w.S)
		}
		b.WriteByte('\n')
	}
	return b.String(), nil
}

var (
	reObj    = regexp.MustCompile(`(?m)^[ \t]*(\d+)[ \t\r\n]+(\d+)[ \t\r\n]+obj\b`)
	reEndObj = regexp.MustCompile(`\bendobj\b`)
)

func pdfRawView(data []byte, o Options) (View, error) {
	var spans []span
	pos := 0
	for _, m := range reObj.FindAllSubmatchIndex(data, -1) {
		if m[0] < pos {
			continue
		}
		e := reEndObj.FindIndex(data[m[1]:])
		if e == nil {
			break
		}
		end := m[1] + e[1]
		num, _ := strconv.Atoi(string(data[m[2]:m[3]]))
		gen, _ := strconv.Atoi(string(data[m[4]:m[5]]))
		spans = append(spans, span{"object", int64(m[0]), int64(end - m[0]), map[string]any{"num": num, "gen": gen}})
		pos = end
	}
	segs, err := coverSpans(data, spans, o.ChunkSize)
	if err != nil {
		return View{}, err
	}
	return View{Name: "raw", Modality: ModBytes, Data: data, Segments: segs, Meta: map[string]any{"format": "pdf"}}, nil
}

// jpegStreams returns the offsets of stream bodies that start with a JPEG
// marker.
func jpegStreams(data []byte) []int {
	var out []int
	for i := 0; ; {
		j := bytes.Index(data[i:], []byte("stream"))
		if j < 0 {
			return out
		}
		p := i + j + len("stream")
		if p < len(data) && data[p] == '\r' {
			p++
		}
		if p < len(data) && data[p] == '\n' && bytes.HasPrefix(data[p+1:], []byte("\xff\xd8\xff")) {
			out = append(out, p+1)
		}
		i = p
	}
}

// pdfImages finds JPEG streams in the raw bytes and Flate images through
// the page resources, decodes them and makes one pixels view per distinct
// image (by SHA-256 of the pixels).
func pdfImages(r *pdf.Reader, data []byte, o Options) ([]View, error) {
	var imgs []image.Image
	var meta []map[string]any
	for _, start := range jpegStreams(data) {
		e := bytes.Index(data[start:], []byte("endstream"))
		if e < 0 {
			continue
		}
		img, err := decodeImage(bytes.TrimRight(data[start:start+e], "\r\n"), o.Limits.MaxPixels)
		if err != nil {
			return nil, fmt.Errorf("embedded JPEG at byte %d: %w", start, err)
		}
		imgs = append(imgs, img)
		meta = append(meta, map[string]any{"filter": "DCTDecode", "offset": start})
	}
	for i := 1; i <= r.NumPage(); i++ {
		xo := r.Page(i).Resources().Key("XObject")
		keys := xo.Keys()
		sort.Strings(keys)
		for _, k := range keys {
			x := xo.Key(k)
			if x.Key("Subtype").Name() != "Image" {
				continue
			}
			img, err := flateImage(x, o.Limits.MaxPixels)
			if err != nil {
				return nil, fmt.Errorf("image %s on page %d: %w", k, i, err)
			}
			if img != nil {
				imgs = append(imgs, img)
				meta = append(meta, map[string]any{"filter": "FlateDecode", "page": i, "name": k})
			}
		}
	}
	var views []View
	seen := map[[32]byte]bool{}
	for i, img := range imgs {
		v := pixelView(fmt.Sprintf("image:%d", len(views)), img, o)
		h := sha256.Sum256(v.Data)
		if seen[h] {
			continue
		}
		seen[h] = true
		for k, val := range meta[i] {
			v.Meta[k] = val
		}
		views = append(views, v)
	}
	return views, nil
}

// flateImage decodes an 8-bit DeviceRGB or DeviceGray image XObject coded
// with FlateDecode (or not coded); nil for other kinds (JPEG streams are
// found in the raw bytes).
func flateImage(x pdf.Value, maxPixels int64) (img image.Image, err error) {
	defer func() {
		if e := recover(); e != nil {
			img, err = nil, fmt.Errorf("%v", e)
		}
	}()
	f := x.Key("Filter")
	if !(f.IsNull() || f.Name() == "FlateDecode") || x.Key("BitsPerComponent").Int64() != 8 {
		return nil, nil
	}
	comps := map[string]int{"DeviceRGB": 3, "DeviceGray": 1}[x.Key("ColorSpace").Name()]
	if comps == 0 {
		return nil, nil
	}
	w, h := int(x.Key("Width").Int64()), int(x.Key("Height").Int64())
	if err := checkPixels(w, h, maxPixels); err != nil {
		return nil, err
	}
	rc := x.Reader()
	defer rc.Close()
	pix := make([]byte, w*h*comps)
	if _, err := io.ReadFull(rc, pix); err != nil {
		return nil, fmt.Errorf("read %dx%d pixels: %w", w, h, err)
	}
	rgba := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		q := rgba.Pix[i*4 : i*4+4]
		if comps == 3 {
			copy(q, pix[i*3:i*3+3])
		} else {
			q[0], q[1], q[2] = pix[i], pix[i], pix[i]
		}
		q[3] = 0xff
	}
	return rgba, nil
}
