// Package plots draws the figures of bltpipe plot and bltpipe report as PNG
// with gonum.org/v1/plot: the BLT paper's per-byte entropy figure (with the
// threshold and patch boundaries, and prominence below it), corpus-wide
// histograms, and shell occupancy against capacity after water-filling.
//
// It draws what it is given (package pipelines/outputs reads the run); it
// never reads files itself.
package plots

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/bltpipe/bltpipe/pipelines/outputs"
	"github.com/bltpipe/bltpipe/transforms/waterfill/sphere"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Colours (matplotlib's defaults, as in the BLT paper's figures).
var (
	blue   = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	orange = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
	red    = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	grey   = color.RGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff}
)

// DPI of every PNG.
const DPI = 96

// DocOptions configures the document figure.
type DocOptions struct {
	// MaxBytes is how many leading bytes to draw (0: all). The title says
	// when the document is cut.
	MaxBytes int
	// Threshold (nats) is drawn as a horizontal line when ShowThreshold.
	Threshold     float64
	ShowThreshold bool
	// Caption is added to the title (e.g. the patching mode).
	Caption string
}

// Document draws a document's entropy per byte (top) and prominence per byte
// (bottom), as in the BLT paper's figure 4: the x axis is the document's
// bytes, labelled with the bytes themselves when text is given (nil: byte
// offsets), patch boundaries are vertical dashed lines and the threshold a
// horizontal red line.
//
// Byte j is token j+1. Its entropy is d.Entropies[j], the entropy (nats) of
// the model's prediction of byte j from the tokens before it; in entropy
// mode byte j starts a patch exactly when that value is above the threshold
// (j ≥ 1). Its prominence is d.Prominence[j+1], the norm of its own
// pre-norm hidden state. The PNG is written to w.
func Document(w io.Writer, d outputs.Document, text []byte, o DocOptions) error {
	n := int(d.NumBytes)
	if d.Entropies == nil && d.Prominence == nil {
		return fmt.Errorf("plot %s: the document has no entropies: its run had no model (--model none)", d.ID)
	}
	if len(d.Entropies) != n+2 || len(d.Prominence) != n+2 {
		return fmt.Errorf("plot %s: %d entropies and %d prominence values for %d bytes, want %d", d.ID, len(d.Entropies), len(d.Prominence), n, n+2)
	}
	if text != nil && len(text) != n {
		return fmt.Errorf("plot %s: text has %d bytes, the document %d", d.ID, len(text), n)
	}
	if n == 0 {
		return fmt.Errorf("plot %s: empty document", d.ID)
	}
	shown := n
	if o.MaxBytes > 0 && o.MaxBytes < n {
		shown = o.MaxBytes
	}
	ent := make(plotter.XYs, shown)
	prom := make(plotter.XYs, shown)
	for j := range shown {
		ent[j] = plotter.XY{X: float64(j), Y: float64(d.Entropies[j])}
		prom[j] = plotter.XY{X: float64(j), Y: float64(d.Prominence[j+1])}
	}
	var starts []float64 // bytes that start a patch (token s ≥ 2 is byte s-1)
	tok := 0
	for _, l := range d.PatchLengths {
		if tok >= 2 && tok-1 < shown {
			starts = append(starts, float64(tok-1))
		}
		tok += int(l)
	}

	title := fmt.Sprintf("%s: entropy per byte, %d patches", d.ID, len(d.PatchLengths))
	if shown < n {
		title = fmt.Sprintf("%s: entropy per byte, first %d of %d bytes", d.ID, shown, n)
	}
	if o.Caption != "" {
		title += " (" + o.Caption + ")"
	}
	top := plot.New()
	top.Title.Text = title
	top.Y.Label.Text = "entropy (nats)"
	bottom := plot.New()
	bottom.Y.Label.Text = "prominence ‖h‖"
	bottom.X.Label.Text = "byte (· is a space)"
	if text == nil {
		bottom.X.Label.Text = "byte offset (bytes not in this run: write it with --blt-arrow)"
	}

	line, points, err := plotter.NewLinePoints(ent)
	if err != nil {
		return err
	}
	line.Color, points.Color = blue, blue
	points.Radius = vg.Points(1.8)
	top.Add(plotter.NewGrid(), line, points)
	top.Legend.Add("H(byte | bytes before)", line, points)
	ymin, ymax := minMax(ent)
	if o.ShowThreshold {
		thr, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: o.Threshold}, {X: float64(shown) - 0.5, Y: o.Threshold}})
		if err != nil {
			return err
		}
		thr.Color, thr.Width = red, vg.Points(1.2)
		top.Add(thr)
		top.Legend.Add("threshold "+Nats(o.Threshold), thr)
		ymin, ymax = math.Min(ymin, o.Threshold), math.Max(ymax, o.Threshold)
	}
	// Headroom above the data for the legend (top left).
	span := math.Max(ymax-ymin, 1e-3)
	top.Y.Min, top.Y.Max = ymin-0.05*span, ymax+0.4*span

	pl, pp, err := plotter.NewLinePoints(prom)
	if err != nil {
		return err
	}
	pl.Color, pp.Color = orange, orange
	pp.Radius = vg.Points(1.8)
	bottom.Add(plotter.NewGrid(), pl, pp)
	pmin, pmax := minMax(prom)
	ppad := 0.05 * math.Max(pmax-pmin, 1e-3)
	bottom.Y.Min, bottom.Y.Max = pmin-ppad, pmax+ppad

	for _, p := range []*plot.Plot{top, bottom} {
		lo, hi := p.Y.Min, p.Y.Max
		for i, s := range starts {
			v, err := plotter.NewLine(plotter.XYs{{X: s - 0.5, Y: lo}, {X: s - 0.5, Y: hi}})
			if err != nil {
				return err
			}
			v.Color, v.Dashes = grey, []vg.Length{vg.Points(3), vg.Points(2)}
			p.Add(v)
			if i == 0 && p == top {
				top.Legend.Add("patch start", v)
			}
		}
		p.X.Min, p.X.Max = -0.5, float64(shown)-0.5
		p.X.Tick.Marker = byteTicks{text: text, shown: shown}
	}
	top.Legend.Top, top.Legend.Left = true, true
	top.Legend.XOffs = vg.Points(6)

	width := vg.Length(math.Max(8, 0.13*float64(shown)+1.5)) * vg.Inch
	return writeGrid(w, [][]*plot.Plot{{top}, {bottom}}, width, 6.5*vg.Inch)
}

// byteTicks labels every byte with itself (text) or every 10th offset.
type byteTicks struct {
	text  []byte
	shown int
}

func (b byteTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	if b.text == nil {
		step := 10
		if b.shown > 400 {
			step = 50
		}
		for j := 0; j < b.shown; j++ {
			if j%step == 0 {
				out = append(out, plot.Tick{Value: float64(j), Label: fmt.Sprint(j)})
			} else {
				out = append(out, plot.Tick{Value: float64(j)})
			}
		}
		return out
	}
	labels := ByteLabels(b.text[:b.shown])
	for j, l := range labels {
		out = append(out, plot.Tick{Value: float64(j), Label: l})
	}
	return out
}

// ByteLabels returns one tick label per byte: the character a byte starts
// (a space as "·", a newline as "\n", a tab as "\t"), "" for the
// continuation bytes of a multi-byte character, and the hex value of a
// byte that is not part of a printable character.
func ByteLabels(text []byte) []string {
	out := make([]string, len(text))
	for j := 0; j < len(text); {
		r, size := utf8.DecodeRune(text[j:])
		switch {
		case r == ' ':
			out[j] = "·"
		case r == '\n':
			out[j] = `\n`
		case r == '\t':
			out[j] = `\t`
		case r == utf8.RuneError && size <= 1, !unicode.IsPrint(r):
			out[j] = fmt.Sprintf("%02x", text[j])
			size = 1
		default:
			out[j] = string(r)
		}
		j += size
	}
	return out
}

func minMax(xys plotter.XYs) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, p := range xys {
		lo, hi = math.Min(lo, p.Y), math.Max(hi, p.Y)
	}
	return lo, hi
}

// Histograms draws the corpus-wide distributions of a run side by side:
// token entropy (nats), token prominence and patch length (tokens).
func Histograms(w io.Writer, s *outputs.Summary) error {
	ent := binned(s.Entropy, blue)
	pe := plot.New()
	pe.Title.Text = fmt.Sprintf("token entropy, %d tokens", s.Entropy.N)
	pe.X.Label.Text = "entropy (nats)"
	pe.Y.Label.Text = "tokens"
	pe.Add(plotter.NewGrid(), ent)
	if t := s.Run.Patcher; t.Mode == "entropy" && !t.Monotonic {
		thr, err := plotter.NewLine(plotter.XYs{{X: t.Threshold, Y: 0}, {X: t.Threshold, Y: float64(maxCount(s.Entropy))}})
		if err != nil {
			return err
		}
		thr.Color, thr.Width = red, vg.Points(1.2)
		pe.Add(thr)
		pe.Legend.Add("threshold "+Nats(t.Threshold), thr)
		pe.Legend.Left, pe.Legend.Top = true, true
	}

	pp := plot.New()
	pp.Title.Text = "token prominence"
	pp.X.Label.Text = "prominence ‖h‖"
	pp.Y.Label.Text = "tokens"
	pp.Add(plotter.NewGrid(), binned(s.Prominence, orange))

	lens := PatchLengthHistogram(s.PatchTokens)
	pl := plot.New()
	pl.Title.Text = fmt.Sprintf("patch length, %d patches (mean %.2f, median %.1f)", s.Patches, s.MeanPatchTokens, s.MedianPatchTokens)
	pl.X.Label.Text = "tokens per patch"
	pl.Y.Label.Text = "patches"
	pl.Add(plotter.NewGrid(), binned(lens, blue))
	return writeGrid(w, [][]*plot.Plot{{pe, pp, pl}}, 15*vg.Inch, 4.5*vg.Inch)
}

// PatchLengthHistogram bins patch lengths one bin per length from 1 to the
// longest (capped at 64 bins; longer patches land in the last bin).
func PatchLengthHistogram(counts map[int32]int64) *outputs.Histogram {
	longest := int32(1)
	for l := range counts {
		longest = max(longest, l)
	}
	bins := int(min(longest, 64))
	h := outputs.NewHistogram(0.5, float64(bins)+0.5, bins)
	for l, c := range counts {
		h.Counts[max(1, min(int(l), bins))-1] += c
		h.N += c
	}
	return h
}

func maxCount(h *outputs.Histogram) int64 {
	var m int64
	for _, c := range h.Counts {
		m = max(m, c)
	}
	return m
}

func binned(h *outputs.Histogram, fill color.Color) *plotter.Histogram {
	w := h.Width()
	bins := make([]plotter.HistogramBin, len(h.Counts))
	for i, c := range h.Counts {
		lo := h.Lo + float64(i)*w
		bins[i] = plotter.HistogramBin{Min: lo, Max: lo + w, Weight: float64(c)}
	}
	hp := &plotter.Histogram{Bins: bins, Width: w, FillColor: fill}
	hp.LineStyle = draw.LineStyle{Color: color.White, Width: vg.Points(0.5)}
	return hp
}

// Occupancy draws patches per shell (points) against each shell's capacity
// (line) from sphere/_SPHERE.json.
func Occupancy(w io.Writer, f *sphere.File) error {
	if len(f.Table) == 0 {
		return fmt.Errorf("plot: _SPHERE.json has no shells")
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("shell occupancy: %s, %d patches, %d shells, max |n−c| = %.0f", f.Method, f.Patches, f.Shells, f.MaxCountError)
	p.X.Label.Text = "shell k (0 = innermost)"
	p.Y.Label.Text = "patches"
	capXY := make(plotter.XYs, len(f.Table))
	cntXY := make(plotter.XYs, len(f.Table))
	for k, s := range f.Table {
		capXY[k] = plotter.XY{X: float64(s.K), Y: s.Capacity}
		cntXY[k] = plotter.XY{X: float64(s.K), Y: float64(s.Count)}
	}
	sc, err := plotter.NewScatter(cntXY)
	if err != nil {
		return err
	}
	sc.GlyphStyle.Radius, sc.GlyphStyle.Color = vg.Points(2), blue
	ln, err := plotter.NewLine(capXY)
	if err != nil {
		return err
	}
	ln.Color, ln.Width = red, vg.Points(1.2)
	p.Add(plotter.NewGrid(), sc, ln)
	p.Legend.Add("occupancy n_k", sc)
	p.Legend.Add("capacity c_k", ln)
	p.Legend.Top, p.Legend.Left = true, true
	return writeGrid(w, [][]*plot.Plot{{p}}, 8*vg.Inch, 4.5*vg.Inch)
}

// writeGrid draws plots in a grid on one canvas and writes it as PNG.
func writeGrid(w io.Writer, grid [][]*plot.Plot, width, height vg.Length) error {
	c := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(DPI), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(c)
	t := draw.Tiles{Rows: len(grid), Cols: len(grid[0]), PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 3,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 3}
	canvases := plot.Align(grid, t, dc)
	for i := range grid {
		for j, p := range grid[i] {
			p.Draw(canvases[i][j])
		}
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return fmt.Errorf("encode png: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// Nats formats a threshold in nats as the patcher uses it: rounded to
// float32 (the comparison's precision), shortest form.
func Nats(v float64) string {
	return strconv.FormatFloat(v, 'g', -1, 32) + " nats"
}
