package modality

import (
	"bytes"
	"encoding/binary"
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// extractText makes the "text" view: UTF-8 (UTF-16 with a BOM is converted,
// a UTF-8 BOM is kept as bytes), one "paragraph" segment per run of
// non-blank lines together with the blank lines after it; the first segment
// also holds any leading blank lines. The segments cover Data exactly.
func extractText(src *Source, data []byte) error {
	enc := "utf-8"
	if sniffText(data) == "utf16" {
		d, err := decodeUTF16(data)
		if err != nil {
			return err
		}
		data, enc = d, "utf-16"
	} else if !utf8.Valid(data) {
		return errors.New("text is not valid UTF-8")
	}
	src.Views = []View{{
		Name: "text", Modality: ModText, Data: data,
		Segments: paragraphs(data),
		Meta:     map[string]any{"encoding": enc},
	}}
	return nil
}

// decodeUTF16 converts UTF-16 with a BOM to UTF-8 (without the BOM);
// unpaired surrogates become U+FFFD.
func decodeUTF16(b []byte) ([]byte, error) {
	if len(b)%2 != 0 || len(b) < 2 {
		return nil, errors.New("UTF-16 text has an odd number of bytes")
	}
	var order binary.ByteOrder = binary.LittleEndian
	if b[0] == 0xfe {
		order = binary.BigEndian
	}
	u := make([]uint16, 0, len(b)/2-1)
	for i := 2; i < len(b); i += 2 {
		u = append(u, order.Uint16(b[i:]))
	}
	var out []byte
	for _, r := range utf16.Decode(u) {
		out = utf8.AppendRune(out, r)
	}
	return out, nil
}

// paragraphs cuts b after each blank-line run that follows a non-blank
// line. A line is blank if it holds only spaces, tabs and '\r'.
func paragraphs(b []byte) []Segment {
	var segs []Segment
	start, seenText, inBlank := 0, false, false
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		end := len(b)
		if j >= 0 {
			end = i + j + 1
		}
		blank := len(bytes.Trim(b[i:end], " \t\r\n")) == 0
		if !blank && inBlank && seenText {
			segs = append(segs, Segment{Label: "paragraph", Start: start, End: i})
			start = i
		}
		if !blank {
			seenText = true
		}
		inBlank = blank
		i = end
	}
	if start < len(b) || len(segs) == 0 {
		segs = append(segs, Segment{Label: "paragraph", Start: start, End: len(b)})
	}
	return segs
}
