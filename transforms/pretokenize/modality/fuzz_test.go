package modality

import (
	"bytes"
	"errors"
	"sort"
	"testing"
	"time"
)

// FuzzExtract: no input makes a decoder panic (ErrPanic) or run for more
// than 5 s, views keep their
// segment invariants, and the text, code, executable and unknown-binary
// views cover their data exactly. Seeds are every fixture and generated
// file. ffmpeg is switched off (FFmpeg: a missing binary) to keep runs
// fast; limits are small so bombs cost little.
func FuzzExtract(f *testing.F) {
	s := seeds(f)
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f.Add(n, s[n])
	}
	o := Options{FFmpeg: "/nonexistent/ffmpeg", PDFMode: PDFMultiview, Limits: Limits{
		MaxExpandedBytes: 16 << 20, MaxPixels: 1 << 20, MaxAudioSeconds: 30, MaxMembers: 100,
	}}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		type result struct {
			src *Source
			err error
		}
		done := make(chan result, 1)
		go func() {
			src, err := Extract(name, data, o)
			done <- result{src, err}
		}()
		var r result
		select {
		case r = <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("Extract(%q, %d bytes) takes over 5 s", name, len(data))
		}
		src, err := r.src, r.err
		if errors.Is(err, ErrPanic) {
			t.Fatal(err)
		}
		if err != nil {
			return
		}
		for _, fl := range src.Flatten() {
			v := *fl.View
			checkInside(t, v)
			switch v.Modality {
			case ModText, ModCode, ModExecutable:
				checkCover(t, v)
			case ModBytes:
				if v.Name == "raw" && fl.Path == "" && !bytes.Equal(v.Data, data) {
					t.Fatal("raw view is not the input")
				}
				checkCover(t, v)
			}
		}
	})
}
