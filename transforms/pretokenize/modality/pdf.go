package modality

import (
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"errors"
	"fmt"
	"image"
	"io"
	"regexp"
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
//     per distinct embedded image (see pdfImages), k from 0 in file order. The views of
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
	imgs, err := pdfImages(raw, o)
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
		txt, err := pageText(r, i)
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

// pageText joins the text rows (top to bottom) of page i with newlines and
// the words of a row with the spacing the library found. The library
// reports malformed input by panicking; that becomes the error.
func pageText(r *pdf.Reader, i int) (s string, err error) {
	defer func() {
		if e := recover(); e != nil {
			err = fmt.Errorf("malformed PDF: %v", e)
		}
	}()
	p := r.Page(i)
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

var (
	reImage      = regexp.MustCompile(`/Subtype\s*/Image\b`)
	reWidth      = regexp.MustCompile(`/Width\s+(\d+)`)
	reHeight     = regexp.MustCompile(`/Height\s+(\d+)`)
	reBPC        = regexp.MustCompile(`/BitsPerComponent\s+(\d+)`)
	reColorSpace = regexp.MustCompile(`/ColorSpace\s*/(\w+)`)
	reFilter     = regexp.MustCompile(`/Filter\s*(\[[^\]]*\]|/\w+)`)
	rePredictor  = regexp.MustCompile(`/Predictor\s+(\d+)`)
	reLength     = regexp.MustCompile(`/Length\s+(\d+)(\s+\d+\s+R)?`)
)

func intKey(re *regexp.Regexp, dict []byte) int {
	m := re.FindSubmatch(dict)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// pdfImages finds image XObjects in the file's objects (their dictionaries
// read with patterns, so streams the PDF library cannot decode are still
// found): DCTDecode streams are decoded as JPEG; FlateDecode (optionally
// with PNG predictors) or unfiltered 8-bit DeviceRGB/DeviceGray streams as
// raw pixels. Other images are skipped. One pixels view per distinct image
// (by SHA-256 of its view data), in file order.
func pdfImages(raw View, o Options) ([]View, error) {
	var views []View
	seen := map[[32]byte]bool{}
	for _, sg := range raw.Segments {
		if sg.Label != "object" {
			continue
		}
		obj := raw.Data[sg.Start:sg.End]
		si := bytes.Index(obj, []byte("stream"))
		if si < 0 || !reImage.Match(obj[:si]) {
			continue
		}
		dict := obj[:si]
		body := obj[si+len("stream"):]
		body = bytes.TrimPrefix(bytes.TrimPrefix(body, []byte("\r")), []byte("\n"))
		if m := reLength.FindSubmatch(dict); m != nil && m[2] == nil {
			if n, _ := strconv.Atoi(string(m[1])); n <= len(body) {
				body = body[:n]
			}
		} else if e := bytes.LastIndex(body, []byte("endstream")); e >= 0 {
			body = bytes.TrimRight(body[:e], "\r\n")
		}
		img, filter, err := pdfImage(dict, body, o.Limits.MaxPixels)
		if err != nil {
			return nil, fmt.Errorf("image object %v: %w", sg.Meta["num"], err)
		}
		if img == nil {
			continue
		}
		v := pixelView(fmt.Sprintf("image:%d", len(views)), img, o)
		h := sha256.Sum256(v.Data)
		if seen[h] {
			continue
		}
		seen[h] = true
		v.Meta["filter"], v.Meta["object"] = filter, sg.Meta["num"]
		views = append(views, v)
	}
	return views, nil
}

// pdfImage decodes one image stream; nil without error for kinds it
// does not read.
func pdfImage(dict, body []byte, maxPixels int64) (image.Image, string, error) {
	filter := ""
	if m := reFilter.FindSubmatch(dict); m != nil {
		names := strings.Fields(strings.NewReplacer("[", " ", "]", " ", "/", " ").Replace(string(m[1])))
		if len(names) != 1 {
			return nil, "", nil // a filter chain
		}
		filter = names[0]
	}
	if filter == "DCTDecode" {
		img, err := decodeImage(body, maxPixels)
		return img, filter, err
	}
	if filter != "" && filter != "FlateDecode" {
		return nil, "", nil
	}
	comps := 0
	if m := reColorSpace.FindSubmatch(dict); m != nil {
		comps = map[string]int{"DeviceRGB": 3, "DeviceGray": 1}[string(m[1])]
	}
	if comps == 0 || intKey(reBPC, dict) != 8 {
		return nil, "", nil
	}
	w, h := intKey(reWidth, dict), intKey(reHeight, dict)
	if err := checkPixels(w, h, maxPixels); err != nil {
		return nil, "", err
	}
	pix := body
	if filter == "FlateDecode" {
		zr, err := zlib.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, "", fmt.Errorf("inflate: %w", err)
		}
		rowLen := w * comps
		want := h * rowLen
		pred := intKey(rePredictor, dict)
		if pred >= 10 {
			want = h * (rowLen + 1)
		}
		pix = make([]byte, want)
		if _, err := io.ReadFull(zr, pix); err != nil {
			return nil, "", fmt.Errorf("inflate %dx%d pixels: %w", w, h, err)
		}
		if pred >= 10 {
			if pix, err = unpredictPNG(pix, rowLen, comps); err != nil {
				return nil, "", err
			}
		} else if pred > 1 {
			return nil, "", fmt.Errorf("unsupported predictor %d", pred)
		}
	}
	if len(pix) < w*h*comps {
		return nil, "", fmt.Errorf("%d bytes for %dx%d pixels", len(pix), w, h)
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
	return rgba, filter, nil
}

// unpredictPNG undoes PNG row filters (each row: a filter-type byte, then
// rowLen bytes; bpp bytes per pixel).
func unpredictPNG(b []byte, rowLen, bpp int) ([]byte, error) {
	rows := len(b) / (rowLen + 1)
	out := make([]byte, rows*rowLen)
	prev := make([]byte, rowLen)
	for r := 0; r < rows; r++ {
		ft, in := b[r*(rowLen+1)], b[r*(rowLen+1)+1:(r+1)*(rowLen+1)]
		cur := out[r*rowLen : (r+1)*rowLen]
		for i := 0; i < rowLen; i++ {
			var a, c byte
			if i >= bpp {
				a, c = cur[i-bpp], prev[i-bpp]
			}
			up := prev[i]
			switch ft {
			case 0:
				cur[i] = in[i]
			case 1:
				cur[i] = in[i] + a
			case 2:
				cur[i] = in[i] + up
			case 3:
				cur[i] = in[i] + byte((int(a)+int(up))/2)
			case 4:
				cur[i] = in[i] + paeth(a, up, c)
			default:
				return nil, fmt.Errorf("bad PNG predictor row type %d", ft)
			}
		}
		prev = cur
	}
	return out, nil
}

func paeth(a, b, c byte) byte {
	p := int(a) + int(b) - int(c)
	pa, pb, pc := abs(p-int(a)), abs(p-int(b)), abs(p-int(c))
	switch {
	case pa <= pb && pa <= pc:
		return a
	case pb <= pc:
		return b
	}
	return c
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
