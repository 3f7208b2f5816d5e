package modality

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// seeds are one valid file per format: fixtures and files the tests make.
func seeds(t testing.TB) map[string][]byte {
	t.Helper()
	tt, ok := t.(*testing.T)
	out := map[string][]byte{}
	for _, f := range []string{"tone.wav", "tone24.wav", "tonef32.wav", "tone8.wav", "tone.flac", "tone.mp3", "tone.ogg",
		"tiny.mp4", "tiny.webp", "text.pdf", "image.pdf", "jpeg.pdf", "lib.a", "hello.txt.bz2"} {
		out[f] = fixture(t, f)
	}
	img := testImage(24, 20)
	if ok {
		for _, f := range []string{"png", "jpeg", "gif", "bmp", "tiff"} {
			out["x."+f] = encode(tt, f, img)
		}
	}
	out["x.zip"] = makeZip(t, entry{name: "a.txt", body: "hello\n"}, entry{name: "b.go", body: "package b\n"})
	tarball := makeTar(t, entry{name: "a.txt", body: "hello\n"})
	out["x.tar"] = tarball
	out["x.tar.gz"] = gz(t, tarball)
	out["x.go"] = []byte(goSrc)
	out["x.py"] = []byte(pySrc)
	out["x.c"] = []byte(cSrc)
	out["x.txt"] = []byte("one\n\ntwo\n")
	return out
}

// Truncated or damaged files are rejected with an error, never a panic.
func TestCorrupt(t *testing.T) {
	s := seeds(t)
	self, _ := os.Executable()
	if b, err := os.ReadFile(self); err == nil {
		s["self.elf"] = b
	}
	hasFFmpeg := true
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		hasFFmpeg = false
	}
	for _, tc := range []struct {
		file string
		cut  func([]byte) []byte
	}{
		{"x.png", half}, {"x.jpeg", half}, {"x.gif", half}, {"x.bmp", half}, {"x.tiff", half}, {"tiny.webp", half},
		{"tone.wav", half}, {"tone24.wav", half}, {"tone.flac", half}, {"tone.mp3", garbleBody}, {"tone.mp3", half}, {"tone.ogg", garbleBody},
		{"text.pdf", half}, {"image.pdf", garbleBody}, {"tiny.mp4", half},
		{"self.elf", half}, {"lib.a", half},
		{"x.zip", half}, {"x.tar.gz", half}, {"hello.txt.bz2", half}, {"x.tar", func(b []byte) []byte { return b[:515] }},
	} {
		t.Run(tc.file, func(t *testing.T) {
			if (tc.file == "tone.ogg" || tc.file == "tiny.mp4") && !hasFFmpeg {
				t.Skip("ffmpeg not on PATH")
			}
			data, ok := s[tc.file]
			if !ok {
				t.Skip("no seed")
			}
			err := mustReject(t, tc.file, tc.cut(bytes.Clone(data)), Options{PDFMode: PDFMultiview})
			t.Logf("%v", err)
		})
	}
}

func half(b []byte) []byte { return b[:len(b)/2] }

// garbleBody keeps the first 64 bytes (the headers) and overwrites the
// rest with a pattern.
func garbleBody(b []byte) []byte {
	for i := 64; i < len(b); i++ {
		b[i] = byte(i*37) ^ 0x5a
	}
	return b
}
