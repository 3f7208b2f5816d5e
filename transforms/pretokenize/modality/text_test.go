package modality

import (
	"strings"
	"testing"
	"unicode/utf16"
)

func labels(v View) []string {
	var out []string
	for _, s := range v.Segments {
		out = append(out, s.Label)
	}
	return out
}

func texts(v View) []string {
	var out []string
	for _, s := range v.Segments {
		out = append(out, string(v.Data[s.Start:s.End]))
	}
	return out
}

func TestTextParagraphs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", []string{""}},
		{"one line", []string{"one line"}},
		{"a\nb\n\nc\n", []string{"a\nb\n\n", "c\n"}},
		{"\n\n  \nfirst\n\n\n\t\nsecond\r\n\r\nthird", []string{"\n\n  \nfirst\n\n\n\t\n", "second\r\n\r\n", "third"}},
		{"trailing\n\n\n", []string{"trailing\n\n\n"}},
	} {
		src := mustExtract(t, "x.txt", []byte(tc.in), Options{})
		v := view(t, src, "text")
		checkCover(t, v)
		if got := texts(v); strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("paragraphs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTextUTF16(t *testing.T) {
	const s = "héllo 😀\n\nworld"
	u := utf16.Encode([]rune(s))
	le := []byte{0xff, 0xfe}
	be := []byte{0xfe, 0xff}
	for _, c := range u {
		le = append(le, byte(c), byte(c>>8))
		be = append(be, byte(c>>8), byte(c))
	}
	for _, in := range [][]byte{le, be} {
		src := mustExtract(t, "", in, Options{})
		if src.Kind != "utf16" {
			t.Fatalf("kind %s, want utf16", src.Kind)
		}
		v := view(t, src, "text")
		checkCover(t, v)
		if string(v.Data) != s || len(v.Segments) != 2 {
			t.Errorf("UTF-16 → %q in %d segments, want %q in 2", v.Data, len(v.Segments), s)
		}
	}
	// Odd length: not UTF-16 after all, read as unknown binary.
	if src := mustExtract(t, "x.txt", []byte{0xff, 0xfe, 'a'}, Options{}); src.Kind != "binary" {
		t.Errorf("odd-length UTF-16: kind %s, want binary", src.Kind)
	}
}
