package modality

import (
	"encoding/binary"
	"math"
	"os/exec"
	"strings"
	"testing"
)

// checkFrames asserts the audio view's frames cover its samples exactly,
// each sample in one frame, frames of AudioFrame samples but the last.
func checkFrames(t *testing.T, v View, frame int) {
	t.Helper()
	checkCover(t, v)
	ch := v.Meta["channels"].(int)
	rate := v.Meta["rate"].(int)
	if len(v.Data) != v.Meta["samples"].(int)*ch*2 {
		t.Fatalf("%d bytes for %d samples × %d channels", len(v.Data), v.Meta["samples"], ch)
	}
	for k, s := range v.Segments {
		if s.Meta["frame"] != k || s.Meta["rate"] != rate || s.Meta["channels"] != ch {
			t.Fatalf("frame %d meta %v", k, s.Meta)
		}
		if k < len(v.Segments)-1 && s.Len() != frame*ch*2 {
			t.Fatalf("frame %d has %d bytes, want %d", k, s.Len(), frame*ch*2)
		}
		if got, want := s.Meta["start"].(float64), float64(k*frame)/float64(rate); math.Abs(got-want) > 1e-12 {
			t.Fatalf("frame %d starts at %v, want %v", k, got, want)
		}
	}
}

// peak is the largest absolute sample of an s16le view.
func peak(v View) int {
	m := 0
	for i := 0; i+1 < len(v.Data); i += 2 {
		s := int(int16(binary.LittleEndian.Uint16(v.Data[i:])))
		m = max(m, s, -s)
	}
	return m
}

func TestAudio(t *testing.T) {
	for _, tc := range []struct {
		file          string
		o             Options
		rate, ch      int
		samples       int // per channel; -1: check only approximately (codec padding)
		approxSeconds float64
		needsFFmpeg   bool
	}{
		// sox: 0.5 s of 440 Hz at 16 kHz, 16-bit mono → no conversion.
		{file: "tone.wav", rate: 16000, ch: 1, samples: 8000},
		{file: "tone.wav", o: Options{AudioRate: 8000}, rate: 8000, ch: 1, samples: 4000},
		{file: "tone.wav", o: Options{AudioRate: -1, AudioFrame: 100}, rate: 16000, ch: 1, samples: 8000},
		// 0.1 s at 8 kHz: stereo 24-bit, mono float32, mono unsigned 8-bit.
		{file: "tone24.wav", o: Options{AudioRate: -1}, rate: 8000, ch: 2, samples: 800},
		{file: "tone24.wav", o: Options{AudioMono: true}, rate: 16000, ch: 1, samples: 1600},
		{file: "tonef32.wav", rate: 16000, ch: 1, samples: 1600},
		{file: "tone8.wav", o: Options{AudioRate: -1}, rate: 8000, ch: 1, samples: 800},
		{file: "tone.flac", rate: 16000, ch: 1, samples: 8000},
		// MP3 keeps the encoder's delay and padding (about 0.1 s here).
		{file: "tone.mp3", o: Options{AudioRate: -1}, rate: 16000, ch: 2, samples: -1, approxSeconds: 0.6},
		{file: "tone.ogg", rate: 16000, ch: 1, samples: -1, approxSeconds: 0.5, needsFFmpeg: true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			if _, err := exec.LookPath("ffmpeg"); tc.needsFFmpeg && err != nil {
				t.Skip("ffmpeg not on PATH")
			}
			src := mustExtract(t, tc.file, fixture(t, tc.file), tc.o)
			v := view(t, src, "audio")
			frame := tc.o.AudioFrame
			if frame == 0 {
				frame = 160
			}
			checkFrames(t, v, frame)
			if v.Meta["rate"] != tc.rate || v.Meta["channels"] != tc.ch {
				t.Errorf("%v Hz × %v, want %d × %d", v.Meta["rate"], v.Meta["channels"], tc.rate, tc.ch)
			}
			n := v.Meta["samples"].(int)
			if tc.samples >= 0 && n != tc.samples {
				t.Errorf("%d samples, want %d", n, tc.samples)
			}
			if tc.samples < 0 && math.Abs(float64(n)/float64(tc.rate)-tc.approxSeconds) > 0.1 {
				t.Errorf("%d samples at %d Hz, want about %g s", n, tc.rate, tc.approxSeconds)
			}
			// sox's sine is full scale; lossy codecs keep most of it.
			if p := peak(v); p < 20000 {
				t.Errorf("peak %d: the tone did not survive decoding", p)
			}
		})
	}
}

func TestAudioLimits(t *testing.T) {
	for _, f := range []string{"tone.wav", "tone.flac", "tone.mp3"} {
		err := mustReject(t, f, fixture(t, f), Options{Limits: Limits{MaxAudioSeconds: 0.25}})
		if !strings.Contains(err.Error(), "MaxAudioSeconds") {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// Linear resampling is exact on a ramp.
func TestResampleLinear(t *testing.T) {
	p := pcm{rate: 2, channels: 1, s: []int16{0, 100, 200, 300}}
	got := resample(p, 4)
	want := []int16{0, 50, 100, 150, 200, 250, 300, 300}
	if len(got.s) != len(want) {
		t.Fatalf("got %v, want %v", got.s, want)
	}
	for i := range want {
		if got.s[i] != want[i] {
			t.Fatalf("got %v, want %v", got.s, want)
		}
	}
	if m := downmix(pcm{rate: 1, channels: 2, s: []int16{10, 20, -5, -7}}); m.s[0] != 15 || m.s[1] != -6 {
		t.Errorf("downmix %v", m.s)
	}
}

func TestPDF(t *testing.T) {
	src := mustExtract(t, "text.pdf", fixture(t, "text.pdf"), Options{})
	if len(src.Views) != 1 {
		t.Fatalf("text mode: %d views", len(src.Views))
	}
	v := view(t, src, "text")
	checkCover(t, v)
	if len(v.Segments) != 2 {
		t.Fatalf("%d pages, want 2: %q", len(v.Segments), v.Data)
	}
	p1, p2 := texts(v)[0], texts(v)[1]
	if !strings.Contains(p1, "quick brown fox") || !strings.Contains(p2, "Second page") || strings.Contains(p1, "Second") {
		t.Errorf("pages %q / %q", p1, p2)
	}

	raw := view(t, mustExtract(t, "text.pdf", fixture(t, "text.pdf"), Options{PDFMode: PDFRaw}), "raw")
	checkCover(t, raw)
	objects := 0
	for _, s := range raw.Segments {
		if s.Label == "object" {
			objects++
		}
	}
	if objects < 5 {
		t.Errorf("raw view: %d objects", objects)
	}

	for _, f := range []string{"image.pdf", "jpeg.pdf"} {
		t.Run(f, func(t *testing.T) {
			src := mustExtract(t, f, fixture(t, f), Options{PDFMode: PDFMultiview})
			var names []string
			for _, v := range src.Views {
				names = append(names, v.Name)
			}
			if strings.Join(names, " ") != "raw text image:0" {
				t.Fatalf("views %v, want raw text image:0", names)
			}
			img := view(t, src, "image:0")
			w, h, rgb := unpatch(t, img)
			if w != 64 || h != 64 {
				t.Fatalf("image %dx%d, want 64x64", w, h)
			}
			// img.ps draws R = 4x, G = 4y, B = 128 (JPEG: approximately).
			tol := 0
			if f == "jpeg.pdf" {
				tol = 24
			}
			for _, xy := range [][2]int{{0, 0}, {10, 50}, {63, 63}, {40, 5}} {
				x, y := xy[0], xy[1]
				p := rgb[(y*w+x)*3:][:3]
				if abs(int(p[0])-4*x) > tol || abs(int(p[1])-4*y) > tol || abs(int(p[2])-128) > tol {
					t.Errorf("pixel (%d,%d) = %v, want [%d %d 128]", x, y, p, 4*x, 4*y)
				}
			}
			if !strings.Contains(string(view(t, src, "text").Data), "Image page caption") {
				t.Errorf("text %q", view(t, src, "text").Data)
			}
		})
	}
	if err := mustReject(t, "x.pdf", fixture(t, "text.pdf"), Options{PDFMode: "bogus"}); !strings.Contains(err.Error(), "mode") {
		t.Error(err)
	}
}

func TestVideo(t *testing.T) {
	data := fixture(t, "tiny.mp4")
	err := mustReject(t, "tiny.mp4", data, Options{FFmpeg: "/nonexistent/ffmpeg"})
	if !strings.Contains(err.Error(), "video needs ffmpeg on PATH") {
		t.Errorf("without ffmpeg: %v", err)
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not on PATH (Debian package ffmpeg)")
	}
	src := mustExtract(t, "tiny.mp4", data, Options{VideoEvery: 3, VideoSize: 32})
	frames := view(t, src, "frames")
	checkCover(t, frames)
	// 1 s at 10 fps, every 3rd frame: 0, 3, 6, 9.
	if len(frames.Segments) != 4 || frames.Segments[3].Meta["source_frame"] != 9 || frames.Segments[0].Len() != 32*32*3 {
		t.Errorf("%d frames, last %v", len(frames.Segments), frames.Segments[len(frames.Segments)-1].Meta)
	}
	audio := view(t, src, "audio")
	checkFrames(t, audio, 160)
	if s := float64(audio.Meta["samples"].(int)) / 16000; math.Abs(s-1) > 0.1 {
		t.Errorf("audio track %v s, want about 1", s)
	}
	again := mustExtract(t, "tiny.mp4", data, Options{VideoEvery: 3, VideoSize: 32})
	if string(view(t, again, "frames").Data) != string(frames.Data) {
		t.Error("video frames differ between runs")
	}
}
