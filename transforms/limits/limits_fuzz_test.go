package limits

import (
	"testing"
	"unicode/utf8"
)

// FuzzWindows: windows tile the input exactly, are non-empty and at most
// max bytes, and never cut a UTF-8 character of valid text.
func FuzzWindows(f *testing.F) {
	f.Add([]byte("para one\n\npara two\nline\n"), uint16(8))
	f.Add([]byte("héllo wörld ∑∑∑ 日本語テキスト"), uint16(5))
	f.Add([]byte{0xff, 0xfe, 0x80, 0x80, 0x80, 0x80}, uint16(4))
	f.Fuzz(func(t *testing.T, data []byte, m uint16) {
		max := int(m%512) + 4
		ws := Windows(data, max)
		pos := 0
		for _, w := range ws {
			if w[0] != pos || w[1] <= w[0] || w[1]-w[0] > max {
				t.Fatalf("window %v after %d (max %d) of %d bytes", w, pos, max, len(data))
			}
			if utf8.Valid(data) && !utf8.Valid(data[w[0]:w[1]]) {
				t.Fatalf("window %v cuts a character", w)
			}
			pos = w[1]
		}
		if pos != len(data) {
			t.Fatalf("windows end at %d of %d", pos, len(data))
		}
	})
}
