package main

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bltpipe/bltpipe/pipelines/outputs/outputstest"
)

// checkPNG decodes a PNG file, checks its size and that its pixels vary
// (many colours, neither blank nor solid), and returns its bounds.
func checkPNG(t *testing.T, path string, minW, minH int) image.Rectangle {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	r := img.Bounds()
	if r.Dx() < minW || r.Dy() < minH {
		t.Errorf("%s is %dx%d, want at least %dx%d", path, r.Dx(), r.Dy(), minW, minH)
	}
	colours := map[uint32]int{}
	for y := r.Min.Y; y < r.Max.Y; y += 3 {
		for x := r.Min.X; x < r.Max.X; x += 3 {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			colours[(cr>>8)<<16|(cg>>8)<<8|cb>>8]++
		}
	}
	samples := ((r.Dx() + 2) / 3) * ((r.Dy() + 2) / 3)
	if len(colours) < 16 || colours[0xffffff] > samples*99/100 || colours[0xffffff] < samples/4 {
		t.Errorf("%s: %d colours, %d of %d samples white: not a plot", path, len(colours), colours[0xffffff], samples)
	}
	return r
}

func TestPlot(t *testing.T) {
	c := outputstest.Run(t)
	dir := t.TempDir()
	doc := filepath.Join(dir, "doc.png")
	code, stdout, stderr := runCLI(t, "plot", c.Out, "--doc", "doc-5", "--out", doc)
	if code != 0 || !strings.Contains(stdout, "wrote "+doc) {
		t.Fatalf("plot --doc: exit %d\n%s%s", code, stdout, stderr)
	}
	full := checkPNG(t, doc, 700, 550)

	// --bytes 30 draws a narrower figure than the whole document.
	short := filepath.Join(dir, "short.png")
	if code, _, stderr := runCLI(t, "plot", "--doc", "doc-5", "--bytes", "30", c.Out, "--out", short); code != 0 {
		t.Fatalf("plot --bytes 30: exit %d: %s", code, stderr)
	}
	if r := checkPNG(t, short, 700, 550); r.Dx() >= full.Dx() && len(c.Texts["doc-5"]) > 60 {
		t.Errorf("--bytes 30 is %d wide, the default %d", r.Dx(), full.Dx())
	}

	hist := filepath.Join(dir, "hist.png")
	if code, _, stderr := runCLI(t, "plot", c.Out, "--histogram", "--out", hist); code != 0 {
		t.Fatalf("plot --histogram: exit %d: %s", code, stderr)
	}
	checkPNG(t, hist, 1200, 400)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"plot", c.Out}, "exactly one of --doc"},
		{[]string{"plot", c.Out, "--doc", "doc-1", "--histogram"}, "exactly one of --doc"},
		{[]string{"plot", c.Out, "--doc", "no-such-doc"}, `no document "no-such-doc"`},
		{[]string{"plot", c.Out, "--doc", "doc-1", "--bytes", "-1"}, "--bytes"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, %q; want %d and %q", tc.args, code, stderr, exitUsage, tc.want)
		}
	}
}
